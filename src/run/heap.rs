//! Keeps the heap in ordinary 4 KiB pages. mimalloc (the binary's allocator) marks its arena
//! `MADV_HUGEPAGE`, so with the kernel's THP mode `madvise` (Debian's default) the heap's RSS
//! grows in whole 2 MiB pages: a 120 KB vector doubling late in a run then adds 2 MiB, and a
//! 2,000-user run's RSS is about 15 MiB larger for no gain in throughput (docs/benchmarks.md,
//! "Memory over a long run").

/// Marks the anonymous mapping that holds the heap `MADV_NOHUGEPAGE`, once per process.
/// Pages already huge stay as they are. Unlike `prctl(PR_SET_THP_DISABLE)`, this is not
/// inherited by child processes (the Chromium processes of browser mode keep their defaults).
pub fn heap_without_huge_pages() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    #[cfg(target_os = "linux")]
    ONCE.call_once(|| {
        if let Some(range) = heap_mapping() {
            no_huge_pages(range);
        }
    });
}

#[cfg(target_os = "linux")]
fn no_huge_pages((start, len): (usize, usize)) {
    // SAFETY: madvise only changes paging advice for a range that is mapped (read from
    // /proc/self/maps just before); it neither unmaps nor changes contents.
    unsafe {
        let _ = rustix::mm::madvise(
            start as *mut std::ffi::c_void,
            len,
            rustix::mm::Advice::LinuxNoHugepage,
        );
    }
}

/// Start and length of the unnamed anonymous mapping holding a fresh heap allocation: the
/// allocator's arena (under glibc's malloc it is `[heap]`, which is left alone).
#[cfg(target_os = "linux")]
fn heap_mapping() -> Option<(usize, usize)> {
    let probe = Box::new([0u8; 64]);
    mapping_of(probe.as_ptr() as usize)
}

/// The unnamed anonymous mapping containing `addr`, if it is one.
#[cfg(target_os = "linux")]
fn mapping_of(addr: usize) -> Option<(usize, usize)> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let (start, end) = (
            usize::from_str_radix(start, 16).ok()?,
            usize::from_str_radix(end, 16).ok()?,
        );
        let named = fields.nth(4).is_some();
        (start <= addr && addr < end && !named).then_some((start, end - start))
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The VmFlags line of the mapping starting at `start`, from /proc/self/smaps.
    fn vm_flags(start: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let head = format!("{start:x}-");
        let at = smaps
            .lines()
            .position(|l| l.starts_with(&head))
            .expect("mapping listed");
        smaps
            .lines()
            .skip(at)
            .find(|l| l.starts_with("VmFlags:"))
            .unwrap()
            .to_string()
    }

    #[test]
    fn heap_mapping_is_marked_no_huge_pages() {
        // Unit tests run on glibc's malloc, which serves a block this large with an mmap of
        // its own: an unnamed anonymous mapping, like mimalloc's arena.
        let block = vec![1u8; 4 << 20];
        let range = mapping_of(block.as_ptr() as usize).expect("block in an anonymous mapping");
        assert!(!vm_flags(range.0).contains(" nh"));
        no_huge_pages(range);
        assert!(vm_flags(range.0).contains(" nh"), "{}", vm_flags(range.0));
        heap_without_huge_pages(); // once per process, harmless
    }
}
