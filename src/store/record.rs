//! The byte layout of stored events in sled. Events are stored in chunks: one sled entry per group of
//! consecutive events written by one commit, its key the first position (8 bytes, big-endian, so sled's order
//! is the log's order), its value the events' records one after another, each preceded by its length (u32,
//! big-endian). Chunks keep sled's work per event small: a commit of 64 events is one insert, and a replay of a
//! million events walks a few thousand entries. A chunk holds at most [`CHUNK_BYTES`] unless a single record is
//! bigger. A binary record rather than JSON keeps replay cheap: decoding is a handful of slice reads, and the
//! index rebuild at start-up reads only the header.
//!
//! Chunks are stored *packed* ([`pack`]): the byte `P` (0x50), the records' length (u32, big-endian) and the
//! records compressed as one LZ4 block — a quarter of their size for a chunk of staff exchanges (the payloads'
//! JSON repeats its keys from record to record). A packed chunk cannot be mistaken for a plain one, which
//! starts with the high byte of its first record's length, always 0. Plain chunks (every store written before
//! packing, and a chunk that compression would not make smaller) are read as they are ([`unpack`]). Packing
//! is for memory more than for disk: sled keeps recently written leaves in memory far beyond its cache's
//! capacity (its cache evicts from one of 256 shards only after 64 accesses to that shard), so under sustained
//! appends what it holds is proportional to the bytes written (BENCHMARKS.md).
//!
//! One record:
//! ```text
//! u8 layout (1) · u64 version · u32 schema · i64 recorded_at µs · [16] id · u8 flags
//! · [16] correlation_id if flags&1 · [16] causation_id if flags&2
//! · u16+bytes stream · u16+bytes type · u16+bytes programme · u16+bytes actor · [32] hash · data (rest)
//! ```

use events::{ChainHash, Envelope, EventData, Timestamp};
use uuid::Uuid;

const LAYOUT: u8 = 1;
const HAS_CORRELATION: u8 = 1;
const HAS_CAUSATION: u8 = 2;

/// The size a chunk is filled up to.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;

/// The first byte of a packed chunk.
const PACKED: u8 = b'P';

/// The most bytes a packed chunk may unpack to: far above any chunk (at most [`CHUNK_BYTES`], or one record of
/// at most [`MAX_EVENT_DATA_BYTES`](super::MAX_EVENT_DATA_BYTES) plus its names), so that a damaged length
/// cannot make a reader allocate gigabytes.
const MAX_UNPACKED_BYTES: usize = 1024 * 1024;

/// A chunk's records as stored: packed, or as they are when packing would not make them smaller.
pub(crate) fn pack(records: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut packed = vec![0; 5 + lz4_flex::block::get_maximum_output_size(records.len())];
    packed[0] = PACKED;
    packed[1..5].copy_from_slice(&u32::try_from(records.len()).expect("a chunk is far below 4 GiB").to_be_bytes());
    match lz4_flex::block::compress_into(records, &mut packed[5..]) {
        Ok(len) if 5 + len < records.len() => {
            packed.truncate(5 + len);
            std::borrow::Cow::Owned(packed)
        }
        _ => std::borrow::Cow::Borrowed(records),
    }
}

/// The records of a stored chunk, unpacked if it is packed.
pub(crate) fn unpack(stored: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    if stored.first() != Some(&PACKED) {
        return Ok(std::borrow::Cow::Borrowed(stored));
    }
    let len = stored.get(1..5).ok_or("a packed chunk ends inside its length")?;
    let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
    if len > MAX_UNPACKED_BYTES {
        return Err(format!("a packed chunk claims {len} bytes of records; at most {MAX_UNPACKED_BYTES}"));
    }
    let mut records = vec![0; len];
    match lz4_flex::block::decompress_into(&stored[5..], &mut records) {
        Ok(n) if n == len => Ok(std::borrow::Cow::Owned(records)),
        Ok(n) => Err(format!("a packed chunk unpacks to {n} bytes, not the {len} it claims")),
        Err(error) => Err(format!("a packed chunk does not unpack: {error}")),
    }
}

/// Splits consecutive envelopes into chunks: `(first position, value)` pairs ready for sled.
pub(crate) fn chunks(envelopes: &[Envelope]) -> Vec<(u64, Vec<u8>)> {
    let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
    for envelope in envelopes {
        let record = encode(envelope);
        match out.last_mut() {
            Some((_, value)) if value.len() + 4 + record.len() <= CHUNK_BYTES => push_record(value, &record),
            _ => {
                let mut value = Vec::with_capacity(CHUNK_BYTES.min(4 + record.len() * envelopes.len()));
                push_record(&mut value, &record);
                out.push((envelope.position, value));
            }
        }
    }
    out
}

pub(crate) fn push_record(chunk: &mut Vec<u8>, record: &[u8]) {
    let len = u32::try_from(record.len()).expect("records are far below 4 GiB");
    chunk.extend_from_slice(&len.to_be_bytes());
    chunk.extend_from_slice(record);
}

/// Splits `body`, the records of consecutive events from position `first` (each preceded by its length, as in a
/// chunk), into chunks the way [`chunks`] does: `(first position, value)` pairs ready for sled.
pub(crate) fn split_into_chunks(first: u64, body: &[u8]) -> Result<Vec<(u64, &[u8])>, String> {
    let mut out = Vec::new();
    let (mut start, mut at, mut chunk_first, mut position) = (0, 0, first, first);
    for record in records(body) {
        let len = 4 + record.map_err(|(_, reason)| reason)?.len();
        if at > start && at - start + len > CHUNK_BYTES {
            out.push((chunk_first, &body[start..at]));
            (start, chunk_first) = (at, position);
        }
        at += len;
        position += 1;
    }
    if at > start {
        out.push((chunk_first, &body[start..at]));
    }
    Ok(out)
}

/// The records of one chunk in order; an error names the record's index in the chunk.
pub(crate) fn records(chunk: &[u8]) -> impl Iterator<Item = Result<&[u8], (usize, String)>> + '_ {
    let mut rest = chunk;
    let mut index = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let at = index;
        index += 1;
        if rest.len() < 4 {
            rest = &[];
            return Some(Err((at, "chunk ends inside a length".to_string())));
        }
        let len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        if rest.len() - 4 < len {
            rest = &[];
            return Some(Err((at, "record is longer than its chunk".to_string())));
        }
        let record = &rest[4..4 + len];
        rest = &rest[4 + len..];
        Some(Ok(record))
    })
}

pub(crate) fn key(position: u64) -> [u8; 8] {
    position.to_be_bytes()
}

pub(crate) fn position_of(key: &[u8]) -> Result<u64, String> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| format!("key of {} bytes", key.len()))?;
    Ok(u64::from_be_bytes(bytes))
}

pub(crate) fn encode(envelope: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        1 + 8 + 4 + 8 + 16 + 1 + 32 + 8
            + envelope.stream.len()
            + envelope.event_type.len()
            + envelope.programme.len()
            + envelope.actor.len()
            + 32
            + envelope.data.len(),
    );
    out.push(LAYOUT);
    out.extend_from_slice(&envelope.version.to_be_bytes());
    out.extend_from_slice(&envelope.schema.to_be_bytes());
    out.extend_from_slice(&envelope.recorded_at.as_micros().to_be_bytes());
    out.extend_from_slice(envelope.id.as_bytes());
    let flags = envelope.correlation_id.map_or(0, |_| HAS_CORRELATION) | envelope.causation_id.map_or(0, |_| HAS_CAUSATION);
    out.push(flags);
    for id in [envelope.correlation_id, envelope.causation_id].into_iter().flatten() {
        out.extend_from_slice(id.as_bytes());
    }
    for text in [&envelope.stream, &envelope.event_type, &envelope.programme, &envelope.actor] {
        // Lengths were checked before the append was accepted (slugs, type names and actors are short).
        let len = u16::try_from(text.len()).expect("short field");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(&envelope.hash.0);
    out.extend_from_slice(envelope.data.as_str().as_bytes());
    out
}

/// The fields of a record that the in-memory indexes need; the payload is not touched.
#[derive(Debug)]
pub(crate) struct RecordHeader<'a> {
    pub(crate) version: u64,
    pub(crate) id: Uuid,
    pub(crate) stream: &'a str,
    pub(crate) programme: &'a str,
    pub(crate) recorded_at: Timestamp,
    pub(crate) hash: ChainHash,
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err("record is truncated".to_string());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }

    fn skip_text(&mut self) -> Result<(), String> {
        let len = u16::from_be_bytes(self.array()?) as usize;
        self.take(len).map(|_| ())
    }

    fn text(&mut self) -> Result<&'a str, String> {
        let len = u16::from_be_bytes(self.array()?) as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| "a text field is not UTF-8".to_string())
    }
}

struct Decoded<'a> {
    header: RecordHeader<'a>,
    schema: u32,
    event_type: &'a str,
    actor: &'a str,
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    data: &'a [u8],
}

fn decode_parts(bytes: &[u8]) -> Result<Decoded<'_>, String> {
    let mut r = Reader { bytes };
    let layout = r.array::<1>()?[0];
    if layout != LAYOUT {
        return Err(format!("unknown record layout {layout}"));
    }
    let version = u64::from_be_bytes(r.array()?);
    let schema = u32::from_be_bytes(r.array()?);
    let recorded_at = Timestamp::from_micros(i64::from_be_bytes(r.array()?));
    let id = Uuid::from_bytes(r.array()?);
    let flags = r.array::<1>()?[0];
    let correlation_id = if flags & HAS_CORRELATION != 0 { Some(Uuid::from_bytes(r.array()?)) } else { None };
    let causation_id = if flags & HAS_CAUSATION != 0 { Some(Uuid::from_bytes(r.array()?)) } else { None };
    let stream = r.text()?;
    let event_type = r.text()?;
    let programme = r.text()?;
    let actor = r.text()?;
    let hash = ChainHash(r.array()?);
    Ok(Decoded {
        header: RecordHeader { version, id, stream, programme, recorded_at, hash },
        schema,
        event_type,
        actor,
        correlation_id,
        causation_id,
        data: r.bytes,
    })
}

/// The header fields the indexes need. The type and actor are skipped unread (a full decode still checks them):
/// at open this runs for every record.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<RecordHeader<'_>, String> {
    let mut r = Reader { bytes };
    let layout = r.array::<1>()?[0];
    if layout != LAYOUT {
        return Err(format!("unknown record layout {layout}"));
    }
    let version = u64::from_be_bytes(r.array()?);
    r.take(4)?; // schema
    let recorded_at = Timestamp::from_micros(i64::from_be_bytes(r.array()?));
    let id = Uuid::from_bytes(r.array()?);
    let flags = r.array::<1>()?[0];
    let ids = usize::from(flags & HAS_CORRELATION != 0) + usize::from(flags & HAS_CAUSATION != 0);
    r.take(16 * ids)?;
    let stream = r.text()?;
    r.skip_text()?; // type
    let programme = r.text()?;
    r.skip_text()?; // actor
    let hash = ChainHash(r.array()?);
    Ok(RecordHeader { version, id, stream, programme, recorded_at, hash })
}

pub(crate) fn decode(position: u64, bytes: &[u8]) -> Result<Envelope, String> {
    let d = decode_parts(bytes)?;
    let data = std::str::from_utf8(d.data).map_err(|_| "payload is not UTF-8".to_string())?;
    Ok(Envelope {
        position,
        stream: d.header.stream.to_owned(),
        version: d.header.version,
        id: d.header.id,
        event_type: d.event_type.to_owned(),
        schema: d.schema,
        programme: d.header.programme.to_owned(),
        recorded_at: d.header.recorded_at,
        actor: d.actor.to_owned(),
        correlation_id: d.correlation_id,
        causation_id: d.causation_id,
        data: EventData::from_stored(data.to_owned()),
        hash: d.header.hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn envelope(correlation: Option<u128>, causation: Option<u128>, text: String) -> Envelope {
        Envelope {
            position: 42,
            stream: format!("activity-{text}"),
            version: 3,
            id: Uuid::from_u128(99),
            event_type: "ActivityCorrected".into(),
            schema: 2,
            programme: "unites".into(),
            recorded_at: Timestamp::from_micros(-5),
            actor: text.clone(),
            correlation_id: correlation.map(Uuid::from_u128),
            causation_id: causation.map(Uuid::from_u128),
            data: EventData::from_value(&serde_json::json!({ "text": text })),
            hash: ChainHash([7; 32]),
        }
    }

    /// The records of consecutive envelopes as one chunk.
    fn chunk_of(envelopes: &[Envelope]) -> Vec<u8> {
        let mut chunk = Vec::new();
        for e in envelopes {
            push_record(&mut chunk, &encode(e));
        }
        chunk
    }

    #[test]
    fn a_chunk_is_stored_packed_and_unpacks_to_its_records() {
        let records = chunk_of(&consecutive(1, &[40, 300, 5, 1000]));
        let packed = pack(&records);
        assert_eq!(packed[0], PACKED);
        assert!(packed.len() * 2 < records.len(), "{} of {} bytes", packed.len(), records.len());
        assert_eq!(unpack(&packed).unwrap(), records);
    }

    #[test]
    fn plain_chunks_are_read_as_they_are_and_stay_plain_when_packing_does_not_help() {
        let records = chunk_of(&consecutive(1, &[10]));
        assert_eq!(records[0], 0, "a plain chunk starts with the high byte of a record's length");
        assert!(matches!(unpack(&records).unwrap(), std::borrow::Cow::Borrowed(_)));
        let incompressible: Vec<u8> = (0..64u32).flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()).collect();
        let mut chunk = Vec::new();
        push_record(&mut chunk, &incompressible);
        assert_eq!(&*pack(&chunk), &chunk[..], "stored plain");
    }

    #[test]
    fn a_damaged_packed_chunk_is_refused_saying_why() {
        let records = chunk_of(&consecutive(1, &[200, 200, 200]));
        let packed = pack(&records).into_owned();
        assert!(unpack(&packed[..3]).unwrap_err().contains("ends inside its length"));
        let mut claims = packed.clone();
        claims[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(unpack(&claims).unwrap_err().contains("claims 4294967295 bytes"));
        let mut short = packed.clone();
        short[1..5].copy_from_slice(&(records.len() as u32 + 1).to_be_bytes());
        assert!(unpack(&short).is_err(), "fewer bytes than it claims");
        assert!(unpack(&packed[..packed.len() - 4]).is_err(), "cut short");
    }

    /// Envelopes at consecutive positions from `first`, with payload texts of these sizes.
    fn consecutive(first: u64, sizes: &[usize]) -> Vec<Envelope> {
        sizes
            .iter()
            .zip(first..)
            .map(|(&n, position)| Envelope { position, ..envelope(None, None, "x".repeat(n)) })
            .collect()
    }

    proptest! {
        #[test]
        fn a_record_decodes_to_the_envelope_that_was_encoded(
            correlation in proptest::option::of(any::<u128>()),
            causation in proptest::option::of(any::<u128>()),
            text in "\\PC{0,40}",
        ) {
            let original = envelope(correlation, causation, text);
            let bytes = encode(&original);
            prop_assert_eq!(decode(42, &bytes).unwrap(), original.clone());
            let header = decode_header(&bytes).unwrap();
            prop_assert_eq!(header.stream, original.stream.as_str());
            prop_assert_eq!(header.version, 3);
        }

        #[test]
        fn chunks_hold_every_record_in_order_and_stay_under_the_chunk_size(sizes in proptest::collection::vec(0usize..20_000, 1..40)) {
            let envelopes = consecutive(1, &sizes);
            let chunks = chunks(&envelopes);
            let mut decoded = Vec::new();
            for (first, value) in &chunks {
                prop_assert!(value.len() <= CHUNK_BYTES || records(value).count() == 1);
                for (i, record) in records(value).enumerate() {
                    decoded.push(decode(first + i as u64, record.unwrap()).unwrap());
                }
            }
            prop_assert_eq!(decoded, envelopes);
        }

        #[test]
        fn a_body_splits_into_the_chunks_its_envelopes_make(sizes in proptest::collection::vec(0usize..30_000, 1..20)) {
            let envelopes = consecutive(7, &sizes);
            let mut body = Vec::new();
            for e in &envelopes {
                push_record(&mut body, &encode(e));
            }
            let split: Vec<(u64, Vec<u8>)> =
                split_into_chunks(7, &body).unwrap().into_iter().map(|(p, v)| (p, v.to_vec())).collect();
            prop_assert_eq!(split, chunks(&envelopes));
        }

        #[test]
        fn a_truncated_record_is_an_error_not_a_panic(cut in 0usize..60) {
            let bytes = encode(&envelope(Some(1), None, "x".into()));
            let cut = cut.min(bytes.len() - 1);
            // The payload is the tail, so only cuts inside the header are detectable here; the chain catches the rest.
            if cut < bytes.len() - 12 {
                prop_assert!(decode(42, &bytes[..cut]).is_err());
            }
        }
    }
}
