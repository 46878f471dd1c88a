//! Running totals of a programme's count and sum indicators and its grants, kept as activities change and keyed
//! by the activity's `occurred_on`. A report at the head adds up the entries dated on or before `as_of`: at most
//! one per day of the programme, however many events the log holds, so its cost does not grow with the log.
//! Each entry also counts its contributions, so that a partner or cluster shows in a breakdown exactly when
//! some activity contributes to it (as a scan over the activities would have it).

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::codec::{Reader, SnapshotError, Writer};

/// One change to the totals: `sign` is +1 to add an activity's contribution, -1 to take it away.
#[derive(Clone, Debug)]
pub(crate) struct Contribution<'a> {
    pub(crate) date: NaiveDate,
    pub(crate) hundredths: i128,
    pub(crate) scale: u8,
    pub(crate) partner: &'a str,
    pub(crate) cluster: &'a str,
}

/// Sums of contributions, with how many made them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    hundredths: i128,
    count: i64,
    /// How many contributions were written with 0, 1 and 2 decimals.
    scales: [i64; 3],
    by_partner: BTreeMap<String, (i128, i64)>,
    by_cluster: BTreeMap<String, (i128, i64)>,
}

impl Totals {
    fn add(&mut self, c: &Contribution<'_>, sign: i64) {
        let signed = c.hundredths * i128::from(sign);
        self.hundredths += signed;
        self.count += sign;
        self.scales[usize::from(c.scale.min(2))] += sign;
        for (map, key) in [(&mut self.by_partner, c.partner), (&mut self.by_cluster, c.cluster)] {
            // Look up before inserting: the key is copied only the first time it contributes.
            let entry = match map.get_mut(key) {
                Some(entry) => entry,
                None => map.entry(key.to_owned()).or_default(),
            };
            entry.0 += signed;
            entry.1 += sign;
            if entry.1 == 0 {
                map.remove(key);
            }
        }
    }

    fn merge(&mut self, other: &Totals) {
        self.hundredths += other.hundredths;
        self.count += other.count;
        for (mine, theirs) in self.scales.iter_mut().zip(other.scales) {
            *mine += theirs;
        }
        for (mine, theirs) in [(&mut self.by_partner, &other.by_partner), (&mut self.by_cluster, &other.by_cluster)] {
            for (key, (h, n)) in theirs {
                let entry = mine.entry(key.clone()).or_default();
                entry.0 += h;
                entry.1 += n;
            }
        }
    }

    /// The sum, the decimals to write it with, and the breakdowns of the keys that have contributions.
    pub(crate) fn summary(&self) -> (i128, u8, BTreeMap<String, i128>, BTreeMap<String, i128>) {
        let scale = (0..3u8).rev().find(|&s| self.scales[usize::from(s)] > 0).unwrap_or(0);
        let present = |m: &BTreeMap<String, (i128, i64)>| m.iter().filter(|(_, (_, n))| *n > 0).map(|(k, (h, _))| (k.clone(), *h)).collect();
        (self.hundredths, scale, present(&self.by_partner), present(&self.by_cluster))
    }
}

/// Totals by date, and of all dates together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dated {
    by_date: BTreeMap<NaiveDate, Totals>,
    all: Totals,
}

impl Dated {
    pub(crate) fn add(&mut self, c: &Contribution<'_>, sign: i64) {
        self.all.add(c, sign);
        let totals = self.by_date.entry(c.date).or_default();
        totals.add(c, sign);
        if totals.count == 0 {
            self.by_date.remove(&c.date);
        }
    }

    /// Everything dated on or before `as_of`: the total of all dates when `as_of` is past the last one (the
    /// usual question, "where do we stand today"), else a sum over the days up to `as_of`.
    pub(crate) fn as_of(&self, as_of: NaiveDate) -> Totals {
        if self.by_date.last_key_value().is_none_or(|(last, _)| *last <= as_of) {
            return self.all.clone();
        }
        let mut sum = Totals::default();
        for totals in self.by_date.range(..=as_of).map(|(_, t)| t) {
            sum.merge(totals);
        }
        sum
    }
}

/// Which total an activity's contribution goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Bucket {
    /// Counts in `actual`.
    Counted,
    /// Submitted, awaiting approval: counts in `pending`.
    Pending,
}

/// One indicator's totals: what counts, and what awaits approval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct IndicatorTotals {
    pub(crate) counted: Dated,
    pub(crate) pending: Dated,
}

impl IndicatorTotals {
    pub(crate) fn bucket(&mut self, bucket: Bucket) -> &mut Dated {
        match bucket {
            Bucket::Counted => &mut self.counted,
            Bucket::Pending => &mut self.pending,
        }
    }
}

/// The running totals of one programme at the head of the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeadIndex {
    /// Per count or sum indicator, by id.
    pub(crate) indicators: BTreeMap<String, IndicatorTotals>,
    pub(crate) grants_awarded: Dated,
    pub(crate) grants_paid: Dated,
}

// The snapshot form of the totals (see `snapshot.rs`): every field, in declaration order.

impl Totals {
    fn write(&self, w: &mut Writer) {
        w.i128(self.hundredths);
        w.zigzag(self.count);
        for n in self.scales {
            w.zigzag(n);
        }
        for map in [&self.by_partner, &self.by_cluster] {
            w.varint(map.len() as u64);
            for (key, (hundredths, count)) in map {
                w.str(key);
                w.i128(*hundredths);
                w.zigzag(*count);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Totals, SnapshotError> {
        let mut totals = Totals { hundredths: r.i128()?, count: r.zigzag()?, ..Totals::default() };
        for n in &mut totals.scales {
            *n = r.zigzag()?;
        }
        for map in [&mut totals.by_partner, &mut totals.by_cluster] {
            for _ in 0..r.count()? {
                let key = r.str()?.to_owned();
                let value = (r.i128()?, r.zigzag()?);
                map.insert(key, value);
            }
        }
        Ok(totals)
    }
}

impl Dated {
    fn write(&self, w: &mut Writer) {
        self.all.write(w);
        w.varint(self.by_date.len() as u64);
        for (date, totals) in &self.by_date {
            w.date(*date);
            totals.write(w);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Dated, SnapshotError> {
        let all = Totals::read(r)?;
        let mut by_date = BTreeMap::new();
        for _ in 0..r.count()? {
            let date = r.date()?;
            by_date.insert(date, Totals::read(r)?);
        }
        Ok(Dated { by_date, all })
    }
}

impl HeadIndex {
    pub(crate) fn write(&self, w: &mut Writer) {
        w.varint(self.indicators.len() as u64);
        for (id, totals) in &self.indicators {
            w.str(id);
            totals.counted.write(w);
            totals.pending.write(w);
        }
        self.grants_awarded.write(w);
        self.grants_paid.write(w);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<HeadIndex, SnapshotError> {
        let mut indicators = BTreeMap::new();
        for _ in 0..r.count()? {
            let id = r.str()?.to_owned();
            let totals = IndicatorTotals { counted: Dated::read(r)?, pending: Dated::read(r)? };
            indicators.insert(id, totals);
        }
        Ok(HeadIndex { indicators, grants_awarded: Dated::read(r)?, grants_paid: Dated::read(r)? })
    }
}
