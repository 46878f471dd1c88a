//! The write-ahead file: `<data>/wal`. Each group commit is one frame, written with one `pwrite` and made
//! durable with one `fdatasync`; the same records then go into sled without a flush. A checkpoint (sled's
//! flush and `fdatasync`) makes everything in the file redundant, after which the file is reused from the top
//! under a new *epoch*.
//!
//! Layout:
//! ```text
//! header (4 KiB): [8] "TRKWALH1" · u64 epoch · u32 CRC-32 of the epoch · zeros
//! frame:          [8] "TRKWALF1" · u64 epoch · u64 first position · u32 records · u32 body bytes
//!                 · u32 CRC-32 of (epoch … body bytes, body) · u32 0 · body · zeros up to a multiple of 8
//! body:           the records, each preceded by its length (u32, big-endian): a chunk's layout (`record.rs`)
//! ```
//! Frames of the current epoch follow each other from the end of the header, their positions consecutive.
//! Whatever follows the last of them is either never-acknowledged (a frame torn by a crash during its write)
//! or stale (an older epoch, already in sled). The file is only ever grown by writing zeros ahead of the
//! frames (a megabyte at a time), so that a commit overwrites allocated, written blocks and its `fdatasync`
//! has no metadata to flush.
//!
//! Reading at open ([`scan`]): the current epoch's frames are taken while they are whole and consecutive. A
//! damaged frame is only acceptable as the tail: when a whole frame of the current epoch (or of any epoch if
//! the header is unreadable) holding positions that sled does not have is found anywhere after the point where
//! reading stopped, acknowledged events would be lost, and opening fails naming the first missing position.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use events::Envelope;

use super::record;

const HEADER_MAGIC: &[u8; 8] = b"TRKWALH1";
const FRAME_MAGIC: &[u8; 8] = b"TRKWALF1";
/// Bytes before the first frame.
pub(crate) const HEADER_BYTES: u64 = 4096;
const FRAME_HEADER: usize = 40;
/// The file grows by this many zeros when a frame would pass its end.
const GROW_BYTES: u64 = 1 << 20;

/// The open write-ahead file, owned by the writer thread.
#[derive(Debug)]
pub(crate) struct Wal {
    file: File,
    epoch: u64,
    /// Where the next frame goes.
    offset: u64,
    /// The file's length: everything up to it has been written (with zeros if nothing else).
    len: u64,
    /// The frame being built, kept to reuse its allocation.
    frame: Vec<u8>,
}

/// A whole frame found at open.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) first: u64,
    pub(crate) records: u32,
    pub(crate) body: &'a [u8],
}

impl Frame<'_> {
    /// The position after the frame's last record.
    pub(crate) fn end(&self) -> u64 {
        self.first + u64::from(self.records)
    }
}

/// What the file holds: its epoch (`None` when the header is unreadable) and its frames of that epoch, in order.
#[derive(Debug)]
pub(crate) struct Contents<'a> {
    pub(crate) epoch: Option<u64>,
    pub(crate) frames: Vec<Frame<'a>>,
    /// Where reading stopped: the end of the last whole frame.
    pub(crate) end: usize,
}

/// The file is damaged before its tail: the events from `position` on were acknowledged but cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Damaged {
    pub(crate) position: u64,
    pub(crate) reason: String,
}

impl Wal {
    /// Opens (or creates) the file and returns it with its bytes, which [`scan`] reads. Nothing is written.
    pub(crate) fn open(path: &Path) -> std::io::Result<(Wal, Vec<u8>)> {
        let mut file = File::options().read(true).write(true).create(true).truncate(false).open(path)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes)?;
        let len = bytes.len() as u64;
        Ok((Wal { file, epoch: 0, offset: HEADER_BYTES, len, frame: Vec::new() }, bytes))
    }

    /// Starts a new epoch after everything in the file is durable in sled: the frames present become stale and
    /// the next frame goes at the top. The header is not synced here: the next frame's `fdatasync` takes it
    /// along, and until then the old epoch's frames are all in sled anyway.
    pub(crate) fn restart(&mut self, previous_epoch: Option<u64>) -> std::io::Result<()> {
        self.epoch = previous_epoch.map_or_else(epoch_from_clock, |e| e.wrapping_add(1));
        let mut header = vec![0u8; HEADER_BYTES as usize];
        header[..8].copy_from_slice(HEADER_MAGIC);
        header[8..16].copy_from_slice(&self.epoch.to_be_bytes());
        let crc = crc32fast::hash(&header[8..16]);
        header[16..20].copy_from_slice(&crc.to_be_bytes());
        self.file.write_all_at(&header, 0)?;
        self.len = self.len.max(HEADER_BYTES);
        self.offset = HEADER_BYTES;
        Ok(())
    }

    /// After a checkpoint: the next epoch.
    pub(crate) fn checkpointed(&mut self) -> std::io::Result<()> {
        self.restart(Some(self.epoch))
    }

    /// Durable, with the header written by [`Wal::restart`] (at close, so the file is as it will be read).
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// True when frames were written since the last checkpoint.
    pub(crate) fn holds_frames(&self) -> bool {
        self.offset > HEADER_BYTES
    }

    /// Bytes of frames written since the last checkpoint.
    pub(crate) fn used(&self) -> u64 {
        self.offset - HEADER_BYTES
    }

    /// Builds the frame of consecutive `envelopes` and returns its byte length; [`Wal::body`] is its body and
    /// [`Wal::append`] writes it. Its epoch and checksum are left for [`Wal::append`]: a checkpoint may start a
    /// new epoch before the frame is written, and a frame too big for the file goes to sled without one.
    pub(crate) fn build(&mut self, envelopes: &[Envelope]) -> usize {
        let frame = &mut self.frame;
        frame.clear();
        frame.resize(FRAME_HEADER, 0);
        for envelope in envelopes {
            record::push_record(frame, &record::encode(envelope));
        }
        let body_len = frame.len() - FRAME_HEADER;
        frame.resize(frame.len().next_multiple_of(8), 0);
        let first = envelopes.first().map_or(0, |e| e.position);
        frame[..8].copy_from_slice(FRAME_MAGIC);
        frame[16..24].copy_from_slice(&first.to_be_bytes());
        frame[24..28].copy_from_slice(&u32::try_from(envelopes.len()).expect("a batch is small").to_be_bytes());
        frame[28..32].copy_from_slice(&u32::try_from(body_len).expect("a frame is far below 4 GiB").to_be_bytes());
        self.frame.len()
    }

    /// Gives the frame last built the file's current epoch, and its checksum: once, as it is written, so the
    /// body is checksummed once per frame whether or not a checkpoint came between building and writing.
    fn stamp(&mut self) {
        self.frame[8..16].copy_from_slice(&self.epoch.to_be_bytes());
        let crc = frame_crc(&self.frame[8..32], self.body());
        self.frame[32..36].copy_from_slice(&crc.to_be_bytes());
    }

    /// The records of the frame last built.
    pub(crate) fn body(&self) -> &[u8] {
        let body_len = u32::from_be_bytes(self.frame[28..32].try_into().expect("4 bytes")) as usize;
        &self.frame[FRAME_HEADER..FRAME_HEADER + body_len]
    }

    /// Writes the frame last built after the previous one, under the current epoch, and makes it durable: one
    /// `pwrite` and one `fdatasync` (plus a `pwrite` of zeros when the file grows).
    pub(crate) fn append(&mut self) -> std::io::Result<()> {
        self.stamp();
        let end = self.offset + self.frame.len() as u64;
        if end > self.len {
            let grown = end.next_multiple_of(GROW_BYTES);
            self.file.write_all_at(&vec![0u8; (grown - self.len) as usize], self.len)?;
            self.len = grown;
        }
        self.file.write_all_at(&self.frame, self.offset)?;
        self.file.sync_data()?;
        self.offset = end;
        Ok(())
    }
}

/// An epoch for a file whose header cannot be read: different from whatever its frames carry, practically.
fn epoch_from_clock() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    nanos as u64
}

#[cfg(test)]
thread_local! {
    /// Frame checksums computed on this thread, for the tests that count them.
    static CHECKSUMS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn frame_crc(header: &[u8], body: &[u8]) -> u32 {
    #[cfg(test)]
    CHECKSUMS.with(|n| n.set(n.get() + 1));
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(body);
    hasher.finalize()
}

fn read_epoch(bytes: &[u8]) -> Option<u64> {
    let header = bytes.get(..20)?;
    let crc = u32::from_be_bytes(header[16..20].try_into().expect("4 bytes"));
    (&header[..8] == HEADER_MAGIC && crc32fast::hash(&header[8..16]) == crc)
        .then(|| u64::from_be_bytes(header[8..16].try_into().expect("8 bytes")))
}

/// A frame's header as read, before its body is checksummed.
struct FrameHeader {
    epoch: u64,
    first: u64,
    records: u32,
}

impl FrameHeader {
    /// The position after the frame's last record (saturating: the header is not yet checked).
    fn end(&self) -> u64 {
        self.first.saturating_add(u64::from(self.records))
    }
}

/// The whole frame at `at`, and where the next one would start, or `None` when there is none or `wanted` turns
/// its header down. `wanted` looks at the header before the body is checksummed, so frames it turns down (of
/// another epoch, or already in sled) cost no checksum.
fn frame_at(bytes: &[u8], at: usize, wanted: impl Fn(&FrameHeader) -> bool) -> Option<(Frame<'_>, usize)> {
    let header = bytes.get(at..at.checked_add(FRAME_HEADER)?)?;
    if &header[..8] != FRAME_MAGIC {
        return None;
    }
    let field = |range: std::ops::Range<usize>| &header[range];
    let read = FrameHeader {
        epoch: u64::from_be_bytes(field(8..16).try_into().expect("8 bytes")),
        first: u64::from_be_bytes(field(16..24).try_into().expect("8 bytes")),
        records: u32::from_be_bytes(field(24..28).try_into().expect("4 bytes")),
    };
    if !wanted(&read) {
        return None;
    }
    let FrameHeader { first, records, .. } = read;
    let body_len = u32::from_be_bytes(field(28..32).try_into().expect("4 bytes")) as usize;
    let crc = u32::from_be_bytes(field(32..36).try_into().expect("4 bytes"));
    let body_start = at + FRAME_HEADER;
    let body = bytes.get(body_start..body_start.checked_add(body_len)?)?;
    if records == 0 || first == 0 || frame_crc(&header[8..32], body) != crc {
        return None;
    }
    let next = (body_start + body_len).next_multiple_of(8);
    Some((Frame { first, records, body }, next))
}

/// Reads the file's bytes: the current epoch's whole, consecutive frames. `durable_head` is the last position
/// sled holds; a whole frame with later positions after the point where reading stopped means damage before the
/// tail.
pub(crate) fn scan(bytes: &[u8], durable_head: u64) -> Result<Contents<'_>, Damaged> {
    let epoch = read_epoch(bytes);
    let of_the_epoch = |header: &FrameHeader| epoch.is_none_or(|e| e == header.epoch);
    let mut frames: Vec<Frame<'_>> = Vec::new();
    let mut at = HEADER_BYTES as usize;
    if epoch.is_some() {
        while let Some((frame, next)) = frame_at(bytes, at, of_the_epoch) {
            if frames.last().is_some_and(|last| last.end() != frame.first) {
                break;
            }
            frames.push(frame);
            at = next;
        }
    }
    let end = at;
    let next_position = frames.last().map_or(durable_head + 1, |f| f.end()).max(durable_head + 1);
    // Frames start at multiples of 8: look at each for a whole frame beyond what was read. One of the epoch (any
    // epoch when the header is unreadable) whose positions sled already holds loses nothing: not checksummed.
    let beyond = |header: &FrameHeader| of_the_epoch(header) && header.end() > next_position;
    let mut probe = end + 8;
    while probe + FRAME_HEADER <= bytes.len() {
        if let Some((frame, _)) = frame_at(bytes, probe, beyond) {
            let what = if epoch.is_none() { "its header is unreadable" } else { "a frame is damaged" };
            return Err(Damaged {
                position: next_position,
                reason: format!(
                    "the write-ahead file stops at byte {end} ({what}), but a whole frame with positions {} to {} \
                     follows at byte {probe}",
                    frame.first,
                    frame.end() - 1
                ),
            });
        }
        probe += 8;
    }
    Ok(Contents { epoch, frames, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::{ChainHash, EventData, Timestamp};
    use uuid::Uuid;

    fn envelopes(first: u64, n: u64) -> Vec<Envelope> {
        (first..first + n)
            .map(|position| Envelope {
                position,
                stream: format!("s-{position}"),
                version: 1,
                id: Uuid::from_u128(u128::from(position)),
                event_type: "Tested".into(),
                schema: 1,
                programme: "p".into(),
                recorded_at: Timestamp::from_micros(position as i64),
                actor: "t".into(),
                correlation_id: None,
                causation_id: None,
                data: EventData::from_value(&serde_json::json!({ "n": position })),
                hash: ChainHash([position as u8; 32]),
            })
            .collect()
    }

    /// A file with frames of `sizes` events from position 1, and each frame's byte offset; the last offset is
    /// where the last frame ends.
    fn file_with(dir: &Path, sizes: &[u64]) -> (Vec<u8>, Vec<usize>) {
        let path = dir.join("wal");
        let (mut wal, _) = Wal::open(&path).unwrap();
        wal.restart(Some(6)).unwrap();
        let mut offsets = Vec::new();
        let mut next = 1;
        for &n in sizes {
            offsets.push(wal.offset as usize);
            wal.build(&envelopes(next, n));
            wal.append().unwrap();
            next += n;
        }
        offsets.push(wal.offset as usize);
        (std::fs::read(&path).unwrap(), offsets)
    }

    fn positions(contents: &Contents<'_>) -> Vec<(u64, u32)> {
        contents.frames.iter().map(|f| (f.first, f.records)).collect()
    }

    #[test]
    fn whole_frames_are_read_back_with_their_records() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = file_with(dir.path(), &[3, 1, 5]);
        let contents = scan(&bytes, 0).unwrap();
        assert_eq!(contents.epoch, Some(7));
        assert_eq!(positions(&contents), vec![(1, 3), (4, 1), (5, 5)]);
        let records: Vec<_> = record::records(contents.frames[2].body).map(|r| r.unwrap()).collect();
        assert_eq!(record::decode(5, records[0]).unwrap(), envelopes(5, 1)[0]);
        assert_eq!(records.len(), 5);
    }

    #[test]
    fn a_torn_last_frame_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, offsets) = file_with(dir.path(), &[2, 2, 4]);
        // Cut inside the last frame's body, and (the file being zero-filled ahead) zeros where the rest was.
        for cut in [offsets[2] + 3, offsets[2] + FRAME_HEADER + 10, offsets[3] - 12] {
            let mut torn = bytes.clone();
            torn[cut..].fill(0);
            let contents = scan(&torn, 0).unwrap();
            assert_eq!(positions(&contents), vec![(1, 2), (3, 2)], "cut at {cut}");
            assert_eq!(contents.end, offsets[2]);
        }
        // A write that reached the disk out of order: the last frame's end is there, its start is not.
        let mut torn = bytes.clone();
        torn[offsets[2]..offsets[2] + 16].fill(0);
        assert_eq!(positions(&scan(&torn, 0).unwrap()), vec![(1, 2), (3, 2)]);
    }

    #[test]
    fn a_damaged_frame_before_the_tail_is_refused_naming_the_first_position_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, offsets) = file_with(dir.path(), &[2, 3, 4]);
        for at in [offsets[1], offsets[1] + 17, offsets[1] + FRAME_HEADER + 5, offsets[2] - 9] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            let error = scan(&damaged, 0).unwrap_err();
            assert_eq!(error.position, 3, "byte {at}: {}", error.reason);
            assert!(error.reason.contains("positions 6 to 9"), "{}", error.reason);
        }
        // Damage in a frame whose positions sled already holds loses nothing.
        let mut damaged = bytes.clone();
        damaged[offsets[1] + FRAME_HEADER + 5] ^= 0x10;
        assert_eq!(scan(&damaged, 9).unwrap().frames.len(), 1);
    }

    #[test]
    fn an_unreadable_header_is_refused_when_frames_sled_lacks_follow_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut bytes, _) = file_with(dir.path(), &[2, 3]);
        bytes[9] ^= 1;
        let error = scan(&bytes, 0).unwrap_err();
        assert_eq!(error.position, 1);
        assert!(error.reason.contains("header is unreadable"), "{}", error.reason);
        assert!(scan(&bytes, 5).unwrap().frames.is_empty(), "everything is in sled already");
    }

    #[test]
    fn frames_past_the_point_where_reading_stopped_are_checksummed_only_when_sled_lacks_their_positions() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, offsets) = file_with(dir.path(), &[2, 3, 4]);
        // An unreadable header, where frames of any epoch count: all three are in sled, none is checksummed.
        let mut unreadable = bytes.clone();
        unreadable[9] ^= 1;
        let before = checksums();
        assert!(scan(&unreadable, 9).unwrap().frames.is_empty());
        assert_eq!(checksums(), before, "frames sled holds cannot be damage");
        // The first frame damaged: it is checksummed as it is read; the two after it are in sled.
        let mut damaged = bytes.clone();
        damaged[offsets[0] + FRAME_HEADER + 5] ^= 0x10;
        let before = checksums();
        assert!(scan(&damaged, 9).unwrap().frames.is_empty());
        assert_eq!(checksums(), before + 1);
        // A frame sled lacks is checksummed, and found whole: damage.
        let before = checksums();
        assert_eq!(scan(&unreadable, 2).unwrap_err().position, 3);
        assert_eq!(checksums(), before + 1, "the first frame, which sled holds, is passed over");
    }

    #[test]
    fn after_a_checkpoint_the_older_epochs_frames_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (mut wal, _) = Wal::open(&path).unwrap();
        wal.restart(None).unwrap();
        for first in [1, 5, 9] {
            wal.build(&envelopes(first, 4));
            wal.append().unwrap();
        }
        wal.checkpointed().unwrap();
        wal.build(&envelopes(13, 2));
        wal.append().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let contents = scan(&bytes, 12).unwrap();
        assert_eq!(positions(&contents), vec![(13, 2)], "the stale frames after it are not read");
        // Checkpointed and nothing written since: nothing to replay, and the stale frames are no damage.
        wal.checkpointed().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(scan(&bytes, 14).unwrap().frames.is_empty());
    }

    #[test]
    fn a_frame_built_before_a_checkpoint_and_written_after_it_belongs_to_the_new_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (mut wal, _) = Wal::open(&path).unwrap();
        wal.restart(None).unwrap();
        wal.build(&envelopes(1, 4));
        wal.append().unwrap();
        // The writer builds the next frame, finds a checkpoint due, makes it, then writes the frame it built.
        wal.build(&envelopes(5, 3));
        wal.checkpointed().unwrap();
        let at = wal.offset as usize;
        wal.append().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let written = bytes[at..wal.offset as usize].to_vec();
        wal.build(&envelopes(5, 3));
        wal.stamp();
        assert_eq!(written, wal.frame, "the frame written is the one built under the new epoch");
        let contents = scan(&bytes, 4).unwrap();
        assert_eq!(contents.epoch, Some(wal.epoch));
        assert_eq!(positions(&contents), vec![(5, 3)]);
    }

    /// Frame checksums computed on this thread so far.
    fn checksums() -> usize {
        CHECKSUMS.with(std::cell::Cell::get)
    }

    #[test]
    fn a_frame_is_checksummed_once_when_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(&dir.path().join("wal")).unwrap();
        wal.restart(None).unwrap();
        let before = checksums();
        wal.build(&envelopes(1, 4));
        assert_eq!(checksums(), before, "a built frame is not checksummed: one too big for the file never is");
        wal.checkpointed().unwrap();
        wal.append().unwrap();
        assert_eq!(checksums(), before + 1, "checksummed once, under the epoch the checkpoint started");
        wal.build(&envelopes(5, 2));
        wal.append().unwrap();
        assert_eq!(checksums(), before + 2);
    }

    #[test]
    fn a_file_grows_by_zeros_ahead_of_its_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (mut wal, bytes) = Wal::open(&path).unwrap();
        assert!(bytes.is_empty());
        wal.restart(None).unwrap();
        wal.build(&envelopes(1, 1));
        wal.append().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), GROW_BYTES);
    }
}
