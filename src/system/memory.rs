//! How the daemon's process holds heap memory: one glibc malloc arena shared by every thread.
//!
//! glibc gives each thread that allocates its own arena (up to 8 per core), and an arena's freed
//! pages mostly stay resident. vipd's event loop runs on one thread; the other threads (the page
//! renderer of `observe::http`, tokio's blocking pool for nft) allocate a little, rarely, and
//! never contend for the allocator. Measured with 100 instances: five scrapes of `/metrics` (720
//! KB each) left RSS 780 KiB higher with per-thread arenas, 60 KiB with one arena.

/// Caps glibc's arenas at one, before the daemon starts any thread (threads that already have an
/// arena keep it). False where the C library is not glibc or refused the setting.
pub fn share_one_malloc_arena() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter; M_ARENA_MAX takes any positive count.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// The number of arenas glibc reports (`<heap nr="N">` elements of malloc_info's XML).
    fn arena_count() -> usize {
        let mut buffer: *mut libc::c_char = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        // SAFETY: open_memstream allocates the buffer it writes to; it is read after fclose
        // flushed it, then freed with free() as its manual says.
        unsafe {
            let stream = libc::open_memstream(&mut buffer, &mut size);
            assert!(!stream.is_null(), "open_memstream failed");
            assert_eq!(libc::malloc_info(0, stream), 0, "malloc_info failed");
            libc::fclose(stream);
            let xml = std::slice::from_raw_parts(buffer.cast::<u8>(), size);
            let count = String::from_utf8_lossy(xml).matches("<heap nr=").count();
            libc::free(buffer.cast());
            count
        }
    }

    /// glibc fixes its arena limit the first time a process has more arenas than `arena_test`
    /// (8): in a test binary whose other tests already started many threads, `mallopt` comes too
    /// late to change anything (vipd calls it before its first thread). So the check runs in a
    /// fresh copy of this test binary, started with only this test.
    #[test]
    fn threads_started_after_it_get_no_arena_of_their_own() {
        const CHILD: &str = "VIPD_TEST_ARENA_CHILD";
        if std::env::var_os(CHILD).is_none() {
            let name = "system::memory::tests::threads_started_after_it_get_no_arena_of_their_own";
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([name, "--exact", "--test-threads=1", "--nocapture"])
                .env(CHILD, "1")
                .output()
                .expect("start a fresh copy of the test binary");
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && said.contains("1 passed"),
                "the check in a fresh process failed: {said}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        assert!(share_one_malloc_arena());
        let before = arena_count();
        // More threads allocating at once than there are arenas: without the cap some of them
        // would need a new one (glibc allows 8 per core).
        let threads = before + 2;
        let barrier = Arc::new(Barrier::new(threads));
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let held = vec![1u8; 64 * 1024];
                    barrier.wait();
                    held.len()
                })
            })
            .collect();
        for worker in workers {
            assert_eq!(worker.join().unwrap(), 64 * 1024);
        }
        assert_eq!(arena_count(), before);
    }
}
