//! The binary codec of the projection: varints, strings, dates, and activities. Used by the snapshot
//! (`snapshot.rs`) and by the activity table's arena (`arena.rs`), where every activity is kept encoded.
//!
//! Integers are LEB128 varints unless said otherwise (`zigzag` for signed ones); strings are a varint length
//! and UTF-8 bytes; a slug is its number in the programme's [`Slugs`] (partners and clusters repeat in nearly
//! every activity, and a number is one byte).

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use events::activity::{
    AttributeValue, ChampionTrained, ClusterVisit, ConferenceHeld, ConsultationHeld, CoursePublished, CustomActivity,
    Evidence, GrantAwarded, GrantPaid, GuidePublished, PeerVisit, PolicyImplemented, StaffExchange, TrainingDelivered,
    TrainingMode, VideoPublished, WorkshopHeld,
};
use events::values::LanguageCode;
use events::{Activity, ActivityDetails, ActivityKind, Money, Participants, Quantity, Slug};
use uuid::Uuid;

/// Why a snapshot could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the snapshot is unreadable: {0}")]
pub struct SnapshotError(pub(crate) String);

pub(crate) type Result<T> = std::result::Result<T, SnapshotError>;

pub(crate) fn error<T>(message: impl Into<String>) -> Result<T> {
    Err(SnapshotError(message.into()))
}

const MODES: [TrainingMode; 3] = [TrainingMode::Online, TrainingMode::InPerson, TrainingMode::Hybrid];

/// The slugs of one programme, numbered from 0 in the order they were first seen.
#[derive(Clone, Debug, Default)]
pub(crate) struct Slugs {
    list: Vec<Slug>,
    numbers: HashMap<Slug, u32>,
    /// The last slugs numbered, with their numbers: decoded activities share their slugs' text (see
    /// `events::stored`), so most lookups end here, comparing pointers instead of hashing the text.
    recent: Vec<(Slug, u32)>,
}

impl PartialEq for Slugs {
    fn eq(&self, other: &Slugs) -> bool {
        self.list == other.list
    }
}

impl Eq for Slugs {}

impl Slugs {
    /// The slug's number, given one if it has none yet.
    pub(crate) fn number(&mut self, slug: &Slug) -> u32 {
        const RECENT: usize = 16;
        if let Some((_, n)) = self.recent.iter().find(|(seen, _)| seen.shares_text(slug)) {
            return *n;
        }
        let n = match self.numbers.get(slug) {
            Some(&n) => n,
            None => {
                let n = u32::try_from(self.list.len()).expect("fewer than 2^32 slugs in a programme");
                self.list.push(slug.clone());
                self.numbers.insert(slug.clone(), n);
                n
            }
        };
        if self.recent.len() == RECENT {
            self.recent.remove(0);
        }
        self.recent.push((slug.clone(), n));
        n
    }

    pub(crate) fn get(&self, n: u32) -> Option<&Slug> {
        self.list.get(n as usize)
    }

    /// The table's copy of a slug it has.
    pub(crate) fn find(&self, slug: &Slug) -> Option<&Slug> {
        self.numbers.get(slug).map(|&n| &self.list[n as usize])
    }

    pub(crate) fn list(&self) -> &[Slug] {
        &self.list
    }

    pub(crate) fn from_list(list: Vec<Slug>) -> Result<Slugs> {
        let numbers: HashMap<Slug, u32> = list.iter().cloned().zip(0..).collect();
        if numbers.len() != list.len() {
            return error("a slug is listed twice");
        }
        Ok(Slugs { list, numbers, recent: Vec::new() })
    }
}

/// Bytes being written, with the slug numbers of the programme they belong to.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub(crate) out: Vec<u8>,
    pub(crate) slugs: Slugs,
}

impl Writer {
    fn slug(&mut self, slug: &Slug) {
        let n = self.slugs.number(slug);
        self.varint(u64::from(n));
    }

    fn opt_slug(&mut self, slug: Option<&Slug>) {
        match slug {
            None => self.u8(0),
            Some(slug) => {
                self.u8(1);
                self.slug(slug);
            }
        }
    }

    pub(crate) fn u8(&mut self, byte: u8) {
        self.out.push(byte);
    }

    pub(crate) fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.out.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.out.push(n as u8);
    }

    pub(crate) fn zigzag(&mut self, n: i64) {
        self.varint(((n << 1) ^ (n >> 63)) as u64);
    }

    pub(crate) fn i128(&mut self, n: i128) {
        self.out.extend_from_slice(&n.to_le_bytes());
    }

    pub(crate) fn str(&mut self, text: &str) {
        self.varint(text.len() as u64);
        self.out.extend_from_slice(text.as_bytes());
    }

    fn opt_str(&mut self, text: Option<&str>) {
        match text {
            None => self.u8(0),
            Some(text) => {
                self.u8(1);
                self.str(text);
            }
        }
    }

    pub(crate) fn date(&mut self, date: NaiveDate) {
        self.zigzag(i64::from(date.num_days_from_ce()));
    }

    pub(crate) fn opt_date(&mut self, date: Option<NaiveDate>) {
        match date {
            None => self.u8(0),
            Some(date) => {
                self.u8(1);
                self.date(date);
            }
        }
    }

    pub(crate) fn opt_u32(&mut self, n: Option<u32>) {
        match n {
            None => self.u8(0),
            Some(n) => {
                self.u8(1);
                self.varint(u64::from(n));
            }
        }
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
}

/// Bytes being read.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    /// The programme's slugs, by number.
    pub(crate) slugs: &'a [Slug],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return error("it ends early");
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn varint(&mut self) -> Result<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        error("a number is too long")
    }

    /// A count of things that each take at least one byte, so a corrupt count cannot ask for a huge allocation.
    pub(crate) fn count(&mut self) -> Result<usize> {
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.bytes.len() => Ok(n),
            _ => error(format!("a count of {n} is more than the bytes left")),
        }
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64> {
        let n = self.varint()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    pub(crate) fn i128(&mut self) -> Result<i128> {
        Ok(i128::from_le_bytes(self.take(16)?.try_into().expect("16 bytes")))
    }

    pub(crate) fn str(&mut self) -> Result<&'a str> {
        let len = self.count()?;
        std::str::from_utf8(self.take(len)?).or_else(|_| error("a text is not UTF-8"))
    }

    pub(crate) fn string(&mut self) -> Result<String> {
        self.str().map(str::to_owned)
    }

    pub(crate) fn opt_string(&mut self) -> Result<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.string().map(Some),
        }
    }

    fn slug(&mut self) -> Result<Slug> {
        let n = self.varint()?;
        usize::try_from(n).ok().and_then(|n| self.slugs.get(n)).cloned().map_or_else(|| error("an unknown slug number"), Ok)
    }

    fn opt_slug(&mut self) -> Result<Option<Slug>> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.slug().map(Some),
        }
    }

    pub(crate) fn date(&mut self) -> Result<NaiveDate> {
        let days = self.zigzag()?;
        i32::try_from(days).ok().and_then(NaiveDate::from_num_days_from_ce_opt).map_or_else(|| error("a date is out of range"), Ok)
    }

    pub(crate) fn opt_date(&mut self) -> Result<Option<NaiveDate>> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.date().map(Some),
        }
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        u32::try_from(self.varint()?).or_else(|_| error("a number is out of range"))
    }

    pub(crate) fn opt_u32(&mut self) -> Result<Option<u32>> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.u32().map(Some),
        }
    }

    pub(crate) fn uuid(&mut self) -> Result<Uuid> {
        Ok(Uuid::from_bytes(self.take(16)?.try_into().expect("16 bytes")))
    }

    pub(crate) fn finished(&self) -> Result<()> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            error("bytes are left over")
        }
    }
}

pub(crate) fn write_activity(w: &mut Writer, activity: &Activity) {
    w.date(activity.occurred_on);
    w.opt_date(activity.ends_on);
    w.slug(&activity.partner);
    w.opt_str(activity.title.as_deref());
    w.opt_str(activity.notes.as_deref());
    w.varint(activity.evidence.len() as u64);
    for evidence in &activity.evidence {
        w.str(&evidence.title);
        w.opt_str(evidence.url.as_deref());
        w.opt_str(evidence.sha256.as_deref());
    }
    let kind = activity.kind();
    w.u8(ActivityKind::ALL.iter().position(|k| *k == kind).expect("every kind is listed") as u8);
    let participants = |w: &mut Writer, p: &Option<Participants>| match p {
        None => w.u8(0),
        Some(p) => {
            w.u8(1);
            w.varint(u64::from(p.total()));
            w.opt_u32(p.women());
            w.opt_u32(p.migrants());
        }
    };
    let opt_slug = |w: &mut Writer, s: &Option<Slug>| w.opt_slug(s.as_ref());
    match &activity.details {
        ActivityDetails::StaffExchange(d) => {
            w.slug(&d.host);
            w.slug(&d.visitor);
            opt_slug(w, &d.cluster);
            w.varint(u64::from(d.days));
            w.varint(u64::from(d.staff));
        }
        ActivityDetails::ClusterVisit(d) => {
            w.slug(&d.cluster);
            w.slug(&d.host);
            participants(w, &d.participants);
        }
        ActivityDetails::WorkshopHeld(d) => {
            opt_slug(w, &d.host);
            opt_slug(w, &d.cluster);
            participants(w, &d.participants);
        }
        ActivityDetails::GrantAwarded(d) => {
            w.slug(&d.recipient);
            w.zigzag(d.amount.cents());
            w.str(&d.purpose);
        }
        ActivityDetails::GrantPaid(d) => {
            w.slug(&d.recipient);
            w.zigzag(d.amount.cents());
        }
        ActivityDetails::ChampionTrained(d) => w.str(&d.champion),
        ActivityDetails::ActionPlanEndorsed | ActivityDetails::StrategyAdopted => {}
        ActivityDetails::PolicyImplemented(d) => opt_slug(w, &d.cluster),
        ActivityDetails::GuidePublished(d) => {
            opt_slug(w, &d.cluster);
            w.varint(d.languages.len() as u64);
            for language in &d.languages {
                w.str(language.as_str());
            }
            w.opt_str(d.url.as_deref());
        }
        ActivityDetails::VideoPublished(d) => {
            opt_slug(w, &d.cluster);
            w.opt_str(d.url.as_deref());
        }
        ActivityDetails::ConferenceHeld(d) => {
            opt_slug(w, &d.host);
            participants(w, &d.participants);
        }
        ActivityDetails::TrainingDelivered(d) => {
            w.u8(MODES.iter().position(|m| *m == d.mode).expect("every mode is listed") as u8);
            participants(w, &d.participants);
        }
        ActivityDetails::CoursePublished(d) => {
            w.zigzag(d.hours.hundredths());
            w.u8(d.hours.scale());
            w.opt_str(d.url.as_deref());
        }
        ActivityDetails::PeerVisit(d) => {
            w.slug(&d.host);
            w.varint(d.visitors.len() as u64);
            for visitor in &d.visitors {
                w.slug(visitor);
            }
            participants(w, &d.participants);
        }
        ActivityDetails::ConsultationHeld(d) => participants(w, &d.participants),
        ActivityDetails::Custom(d) => {
            w.str(&d.label);
            w.varint(d.attributes.len() as u64);
            for (name, value) in &d.attributes {
                w.str(name);
                match value {
                    AttributeValue::Text(text) => {
                        w.u8(0);
                        w.str(text);
                    }
                    AttributeValue::Whole(n) => {
                        w.u8(1);
                        w.zigzag(*n);
                    }
                    AttributeValue::Bool(b) => w.u8(2 + u8::from(*b)),
                }
            }
        }
    }
}

pub(crate) fn read_activity(r: &mut Reader<'_>) -> Result<Activity> {
    let occurred_on = r.date()?;
    let ends_on = r.opt_date()?;
    let partner = r.slug()?;
    let title = r.opt_string()?;
    let notes = r.opt_string()?;
    let evidence = (0..r.count()?)
        .map(|_| Ok(Evidence { title: r.string()?, url: r.opt_string()?, sha256: r.opt_string()? }))
        .collect::<Result<Vec<_>>>()?;
    let kind = *ActivityKind::ALL.get(usize::from(r.u8()?)).map_or_else(|| error("unknown activity kind"), Ok)?;
    let participants = |r: &mut Reader<'_>| -> Result<Option<Participants>> {
        match r.u8()? {
            0 => Ok(None),
            _ => {
                let (total, women, migrants) = (r.u32()?, r.opt_u32()?, r.opt_u32()?);
                Participants::new(total, women, migrants).map(Some).or_else(|_| error("participants do not add up"))
            }
        }
    };
    let details = match kind {
        ActivityKind::StaffExchange => ActivityDetails::StaffExchange(StaffExchange {
            host: r.slug()?,
            visitor: r.slug()?,
            cluster: r.opt_slug()?,
            days: r.u32()?,
            staff: r.u32()?,
        }),
        ActivityKind::ClusterVisit => ActivityDetails::ClusterVisit(ClusterVisit {
            cluster: r.slug()?,
            host: r.slug()?,
            participants: participants(r)?,
        }),
        ActivityKind::WorkshopHeld => ActivityDetails::WorkshopHeld(WorkshopHeld {
            host: r.opt_slug()?,
            cluster: r.opt_slug()?,
            participants: participants(r)?,
        }),
        ActivityKind::GrantAwarded => ActivityDetails::GrantAwarded(GrantAwarded {
            recipient: r.slug()?,
            amount: Money::from_cents(r.zigzag()?),
            purpose: r.string()?,
        }),
        ActivityKind::GrantPaid => {
            ActivityDetails::GrantPaid(GrantPaid { recipient: r.slug()?, amount: Money::from_cents(r.zigzag()?) })
        }
        ActivityKind::ChampionTrained => ActivityDetails::ChampionTrained(ChampionTrained { champion: r.string()? }),
        ActivityKind::ActionPlanEndorsed => ActivityDetails::ActionPlanEndorsed,
        ActivityKind::StrategyAdopted => ActivityDetails::StrategyAdopted,
        ActivityKind::PolicyImplemented => ActivityDetails::PolicyImplemented(PolicyImplemented { cluster: r.opt_slug()? }),
        ActivityKind::GuidePublished => {
            let cluster = r.opt_slug()?;
            let languages = (0..r.count()?)
                .map(|_| LanguageCode::parse(r.str()?).or_else(|e| error(e.0)))
                .collect::<Result<Vec<_>>>()?;
            ActivityDetails::GuidePublished(GuidePublished { cluster, languages, url: r.opt_string()? })
        }
        ActivityKind::VideoPublished => {
            ActivityDetails::VideoPublished(VideoPublished { cluster: r.opt_slug()?, url: r.opt_string()? })
        }
        ActivityKind::ConferenceHeld => {
            ActivityDetails::ConferenceHeld(ConferenceHeld { host: r.opt_slug()?, participants: participants(r)? })
        }
        ActivityKind::TrainingDelivered => {
            let mode = *MODES.get(usize::from(r.u8()?)).map_or_else(|| error("unknown training mode"), Ok)?;
            ActivityDetails::TrainingDelivered(TrainingDelivered { mode, participants: participants(r)? })
        }
        ActivityKind::CoursePublished => {
            let (hundredths, scale) = (r.zigzag()?, r.u8()?);
            ActivityDetails::CoursePublished(CoursePublished {
                hours: Quantity::from_hundredths(hundredths, scale),
                url: r.opt_string()?,
            })
        }
        ActivityKind::PeerVisit => {
            let host = r.slug()?;
            let visitors = (0..r.count()?).map(|_| r.slug()).collect::<Result<Vec<_>>>()?;
            ActivityDetails::PeerVisit(PeerVisit { host, visitors, participants: participants(r)? })
        }
        ActivityKind::ConsultationHeld => ActivityDetails::ConsultationHeld(ConsultationHeld { participants: participants(r)? }),
        ActivityKind::Custom => {
            let label = r.string()?;
            let mut attributes = BTreeMap::new();
            for _ in 0..r.count()? {
                let name = r.string()?;
                let value = match r.u8()? {
                    0 => AttributeValue::Text(r.string()?),
                    1 => AttributeValue::Whole(r.zigzag()?),
                    2 => AttributeValue::Bool(false),
                    3 => AttributeValue::Bool(true),
                    _ => return error("unknown attribute value"),
                };
                attributes.insert(name, value);
            }
            ActivityDetails::Custom(CustomActivity { label, attributes })
        }
    };
    Ok(Activity { occurred_on, ends_on, partner, title, notes, evidence, details })
}
