"""Uses the Python client that openapi-python-client generated from the server's /openapi.json (on PYTHONPATH as
`tracker_client`), as a programme's recorder would: records a CONNECTION staff exchange, reads it back, finds it
in the list and reads the progress report it counts in. Exits non-zero on any surprise; prints one line of what
it saw. Run by tests/api/openapi_tools.rs: `python use_client.py BASE_URL RECORDER_TOKEN`."""

import datetime
import sys

from tracker_client import AuthenticatedClient
from tracker_client.api.activities import get_activity, list_activities, record_activity
from tracker_client.api.progress import get_progress
from tracker_client.models import (
    ActivityKind,
    ActivityList,
    ActivityView,
    ActivityWithHistory,
    ProgressReport,
    StaffExchange,
    StaffExchangeKind,
)


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    exchange = StaffExchange(
        kind=StaffExchangeKind.STAFF_EXCHANGE,
        occurred_on=datetime.date(2021, 10, 11),
        host="torino",
        visitor="asti",
        days=5,
        staff=2,
    )
    recorded = record_activity.sync(id="connection", client=client, body=exchange)
    assert isinstance(recorded, ActivityView), recorded
    assert recorded.kind == ActivityKind.STAFF_EXCHANGE and recorded.partner == "torino", recorded

    read = get_activity.sync(id="connection", activity=str(recorded.id), client=client)
    assert isinstance(read, ActivityWithHistory), read
    assert [event.type_ for event in read.history] == ["ActivityRecorded"], read.history

    listed = list_activities.sync(id="connection", client=client, kind=ActivityKind.STAFF_EXCHANGE, partner="torino")
    assert isinstance(listed, ActivityList), listed
    assert [activity.id for activity in listed.activities] == [recorded.id], listed

    report = get_progress.sync(id="connection", client=client, as_of=datetime.date(2022, 12, 31))
    assert isinstance(report, ProgressReport), report
    exchanges = next(indicator for indicator in report.indicators if indicator.id == "staff-exchanges")
    assert exchanges.actual == "1", exchanges
    print(
        f"recorded {recorded.kind.value} {recorded.id} at position {recorded.position}; "
        f"progress of {report.programme} as of {report.as_of}: {exchanges.id} {exchanges.actual} of {exchanges.target}"
    )


if __name__ == "__main__":
    main()
