//! The public views of the activity table: an activity's history and one of its states, read from the
//! revision records' columns and, only for the fields the columns do not hold, from the arena. Lists and
//! filters use these views, so they never decode an activity unless a field needs it.

use chrono::NaiveDate;
use events::event::EVENT_TYPES;
use events::{Activity, ActivityKind, ActivityState, ActivityStatus, Slug};
use uuid::Uuid;

use super::revisions::Rev;
use super::{Activities, NONE, NOTE, RECORDED, WIDE};

/// Every state an activity went through, in log order.
#[derive(Clone, Copy, Debug)]
pub struct ActivityHistory<'a> {
    pub(super) table: &'a Activities,
    pub(super) slot: u32,
}

impl<'a> ActivityHistory<'a> {
    /// Every revision, oldest first.
    pub fn revisions(&self) -> Vec<ActivityRevision<'a>> {
        let mut revisions = Vec::new();
        let mut index = self.table.latest.get(self.slot);
        while index != NONE {
            let rev = self.table.revisions.get(index);
            revisions.push(ActivityRevision { table: self.table, index, rev });
            index = rev.prev;
        }
        revisions.reverse();
        revisions
    }

    /// The latest state.
    pub fn current(&self) -> Option<ActivityRevision<'a>> {
        self.at(u64::MAX)
    }

    /// The state as known at `position` (after every event at or before it).
    pub fn at(&self, position: u64) -> Option<ActivityRevision<'a>> {
        self.table.rev_at(self.slot, position).map(|(index, rev)| ActivityRevision { table: self.table, index, rev })
    }

    /// How many events of the activity are at or before `position`: its stream's version then.
    pub fn version_at(&self, position: u64) -> u64 {
        let mut count = 0;
        let mut index = self.table.latest.get(self.slot);
        while index != NONE {
            let rev = self.table.revisions.get(index);
            if rev.position <= position {
                count += 1;
            }
            index = rev.prev;
        }
        count
    }
}

/// One state of an activity: the state after the event at `position`.
#[derive(Clone, Copy, Debug)]
pub struct ActivityRevision<'a> {
    table: &'a Activities,
    index: u32,
    /// Visible to the table, whose tests look at a column as it is kept.
    pub(super) rev: Rev,
}

impl<'a> ActivityRevision<'a> {
    pub fn position(&self) -> u64 {
        self.rev.position
    }

    /// The stored name of the event (`ActivityRecorded`, `ActivityApproved`, …).
    pub fn event_type(&self) -> &'static str {
        EVENT_TYPES[usize::from(self.rev.event)].0
    }

    pub fn status(&self) -> ActivityStatus {
        self.rev.status()
    }

    /// Whether the activity was recorded (not only corrected or changed before its record).
    pub fn recorded(&self) -> bool {
        self.rev.flags & RECORDED != 0
    }

    /// The note of the last return, kept until the activity is submitted again.
    pub fn return_note(&self) -> Option<&'a str> {
        if self.rev.flags & NOTE == 0 {
            return None;
        }
        self.table.notes.get(&self.index).map(String::as_str)
    }

    /// The activity's kind; `None` before it was recorded.
    pub fn kind(&self) -> Option<ActivityKind> {
        self.rev.kind()
    }

    pub fn occurred_on(&self) -> Option<NaiveDate> {
        self.rev.occurred_on()
    }

    /// The partner the activity is attributed to.
    pub fn partner(&self) -> Option<&'a Slug> {
        self.slug(self.rev.partner, |activity| Some(activity.partner.clone()))
    }

    /// The activity's cluster, if it has one.
    pub fn cluster(&self) -> Option<&'a Slug> {
        self.slug(self.rev.cluster, |activity| activity.cluster_slug().cloned())
    }

    fn slug(&self, column: u16, wide: impl Fn(&Activity) -> Option<Slug>) -> Option<&'a Slug> {
        let slugs = &self.table.slugs;
        match column {
            _ if self.rev.data == NONE => None,
            0 => None,
            WIDE => slugs.find(&wide(&self.activity()?)?),
            n => slugs.get(u32::from(n) - 1),
        }
    }

    /// The activity's fields, read back from the arena; `None` before it was recorded.
    pub fn activity(&self) -> Option<Activity> {
        self.table.activity(&self.rev)
    }

    /// The full state of the activity `id` that this is a state of.
    pub fn to_state(&self, id: Uuid) -> ActivityState {
        ActivityState::from_parts(
            self.recorded().then_some(id),
            self.activity().map(std::sync::Arc::new),
            self.status(),
            self.return_note().map(str::to_owned),
        )
    }
}
