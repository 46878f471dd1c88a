//! Room kept ahead of sled's data file, so that sled itself never meets a full disk.
//!
//! sled 0.34 cannot be trusted after one of its own writes failed: it records the error for good, and from then
//! on every read of a page written since its last flush (one paged out of its cache, or one whose split it helps
//! finish) answers that error instead of the page. A full disk would take reads down with writes. So the log
//! never hands sled a change unless the room for it is already allocated: before every group commit, record
//! write and snapshot, [`Room::ensure`] checks that the blocks past the end of sled's data file are allocated
//! (`fallocate` with `KEEP_SIZE`: the file's length stays, the blocks are its own) for two segments plus
//! twice the change. When they cannot be, the log refuses the write (507 for a full disk)
//! before anything reaches sled, and sled goes on reading everything acknowledged.
//!
//! Why that bound holds: sled writes its log into fixed segments of its one data file and never frees blocks
//! (no hole punching); a reused segment is overwritten in place, and new segments are added at the end. Between
//! two checks sled writes at most the change that was checked (its records, their leaf fragments and any leaf
//! consolidation: well within twice the records' size) and what its background flush and segment cleaning move,
//! which stays inside the current and the next segment: two segments ahead cover it. A file-size limit
//! (`ulimit -f`) is checked the same way, since `KEEP_SIZE` allocation does not meet it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The allocated room kept ahead of sled's data file.
#[derive(Debug)]
pub(super) struct Room {
    /// sled's data file, opened for writing only to allocate its blocks; sled writes through its own handle.
    file: File,
    /// The directory of that file, where the free space is read.
    dir: PathBuf,
    /// Bytes kept allocated past the file's end when no change is pending.
    ahead: u64,
    /// Allocated up to here (from the last successful allocation); rechecked when the file nears it.
    allocated_to: u64,
}

impl Room {
    /// Room for sled's data file `file` in `dir`, whose segments are `segment_size` bytes.
    pub(super) fn new(file: File, dir: &Path, segment_size: u64) -> Room {
        Room { file, dir: dir.to_owned(), ahead: 2 * segment_size, allocated_to: 0 }
    }

    /// Makes sure that sled can write `change` more bytes (as records it is about to be given) plus the usual
    /// room without needing a block the filesystem does not already hold for it. Allocates a segment more than
    /// asked, so that most commits only read the file's length. An error is the filesystem's own (ENOSPC,
    /// EFBIG…): nothing has been written.
    pub(super) fn ensure(&mut self, change: u64) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        let needed = len.saturating_add(self.ahead).saturating_add(change.saturating_mul(2));
        if needed <= self.allocated_to {
            return Ok(());
        }
        let target = needed.saturating_add(self.ahead / 2);
        allocate(&self.file, &self.dir, len, target - len)?;
        self.allocated_to = target;
        Ok(())
    }

    /// Makes sure the filesystem has `bytes` free beside sled's data file and its room, for a value sled keeps in
    /// a file of its own (a blob): checked, not reserved, so it is only for derived data such as snapshots.
    pub(super) fn free_beside(&mut self, bytes: u64) -> io::Result<()> {
        self.ensure(0)?;
        free_space_check(&self.dir, bytes.saturating_mul(2))
    }
}

/// Allocates `len` bytes of `file` from `offset` without changing its length, within the process's file-size
/// limit. Where the filesystem cannot allocate ahead (no `fallocate`), the free space is checked instead.
#[cfg(target_os = "linux")]
fn allocate(file: &File, dir: &Path, offset: u64, len: u64) -> io::Result<()> {
    use rustix::fs::FallocateFlags;
    use rustix::process::{getrlimit, Resource};
    if getrlimit(Resource::Fsize).current.is_some_and(|limit| offset.saturating_add(len) > limit) {
        return Err(io::Error::from_raw_os_error(rustix::io::Errno::FBIG.raw_os_error()));
    }
    match rustix::fs::fallocate(file, FallocateFlags::KEEP_SIZE, offset, len) {
        Ok(()) => Ok(()),
        Err(errno) if errno == rustix::io::Errno::OPNOTSUPP || errno == rustix::io::Errno::NOSYS => {
            free_space_check(dir, len)
        }
        Err(errno) => Err(errno.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn allocate(_file: &File, dir: &Path, _offset: u64, len: u64) -> io::Result<()> {
    free_space_check(dir, len)
}

/// ENOSPC unless the filesystem holding `dir` has `len` bytes free for this user.
fn free_space_check(dir: &Path, len: u64) -> io::Result<()> {
    if fs4::available_space(dir)? < len {
        return Err(io::Error::from(io::ErrorKind::StorageFull));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_is_allocated_past_the_end_without_changing_the_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::write(&path, vec![1u8; 4096]).unwrap();
        let file = File::options().write(true).open(&path).unwrap();
        let mut room = Room::new(file, dir.path(), 1 << 20);
        room.ensure(10_000).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096, "the length stays");
        assert!(room.allocated_to >= 4096 + 2 * (1 << 20) + 20_000, "{}", room.allocated_to);
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let blocks = std::fs::metadata(&path).unwrap().blocks() * 512;
            assert!(blocks >= 4096 + 2 * (1 << 20), "only {blocks} bytes allocated");
        }
    }

    #[test]
    fn a_change_bigger_than_the_filesystem_is_refused_as_a_full_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::write(&path, b"x").unwrap();
        let file = File::options().write(true).open(&path).unwrap();
        let mut room = Room::new(file, dir.path(), 1 << 20);
        let error = room.ensure(u64::MAX / 4).unwrap_err();
        assert!(
            matches!(error.kind(), io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge | io::ErrorKind::InvalidInput),
            "{error:?}"
        );
        room.ensure(0).unwrap();
    }
}
