//! Scheduling and memory for the event loop, keepalived's way: SCHED_RR at `vrrp_rt_priority`,
//! automatic realtime when wake-ups come late (`max_auto_priority`, `min_auto_priority_delay`),
//! CPU affinity (`vrrp_cpu_affinity`) and locked memory (`vrrp_no_swap`). Applied to the thread
//! that runs the event loop before any other thread starts, so affinity is inherited by every
//! thread and child. Realtime is not: SCHED_RESET_ON_FORK gives threads and the commands vipd runs
//! (checks, notify scripts) normal scheduling, so a looping check cannot starve the machine.
//! Whatever the kernel refuses (no CAP_SYS_NICE / CAP_IPC_LOCK, a CPU not present) is a warning
//! and vipd runs without it.

use std::io;
use std::time::Duration;

/// sched(7): children and threads of a realtime thread start at SCHED_OTHER (not in `libc`).
const SCHED_RESET_ON_FORK: libc::c_int = 0x4000_0000;

/// keepalived's default lateness before an automatic priority step (1 s).
pub const DEFAULT_MIN_AUTO_PRIORITY_DELAY: Duration = Duration::from_secs(1);

/// What `global_defs` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealtimeSettings {
    /// `vrrp_rt_priority`: SCHED_RR at this priority from the start (1-99).
    pub rt_priority: Option<u8>,
    /// `max_auto_priority`: the highest priority automatic steps reach; 0, -1 or unset: none.
    pub max_auto_priority: Option<i32>,
    /// `min_auto_priority_delay`: how late a wake-up must be for a step.
    pub min_auto_priority_delay: Duration,
    /// `vrrp_cpu_affinity`: the CPUs vipd may run on; empty: any.
    pub cpu_affinity: Vec<u16>,
    /// `vrrp_no_swap`: lock the process's memory (mlockall).
    pub no_swap: bool,
}

impl RealtimeSettings {
    pub fn from_config(global: &vipd_config::GlobalDefs) -> RealtimeSettings {
        RealtimeSettings {
            rt_priority: global.vrrp_rt_priority,
            max_auto_priority: global.max_auto_priority,
            min_auto_priority_delay: global
                .min_auto_priority_delay_us
                .map_or(DEFAULT_MIN_AUTO_PRIORITY_DELAY, Duration::from_micros),
            cpu_affinity: global.vrrp_cpu_affinity.clone(),
            no_swap: global.vrrp_no_swap,
        }
    }
}

/// Applies `settings` to the calling thread (and, for memory, the process); each refusal is
/// logged as a warning. Returns the priority-stepping state the event loop keeps.
pub fn apply(settings: &RealtimeSettings) -> AutoPriority {
    if !settings.cpu_affinity.is_empty() {
        match set_affinity(&settings.cpu_affinity) {
            Ok(()) => tracing::info!(
                "vrrp_cpu_affinity: running on CPUs {:?}",
                settings.cpu_affinity
            ),
            Err(e) => tracing::warn!(
                "vrrp_cpu_affinity {:?}: {e}; running on any CPU",
                settings.cpu_affinity
            ),
        }
    }
    if settings.no_swap {
        match lock_memory() {
            Ok(()) => tracing::info!("vrrp_no_swap: memory locked"),
            Err(e) => tracing::warn!("vrrp_no_swap: mlockall: {e} (needs CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK); memory may be swapped"),
        }
    }
    let cap = settings
        .max_auto_priority
        .filter(|&p| p > 0)
        .map(|p| p.min(max_rr_priority()));
    let mut current = None;
    if let Some(priority) = settings.rt_priority {
        match set_round_robin(i32::from(priority)) {
            Ok(()) => {
                tracing::info!("vrrp_rt_priority: SCHED_RR at priority {priority}");
                current = Some(i32::from(priority));
            }
            Err(e) => tracing::warn!(
                "vrrp_rt_priority {priority}: SCHED_RR refused: {}; running at normal priority",
                refusal(&e, i32::from(priority))
            ),
        }
    }
    AutoPriority {
        cap,
        current,
        min_delay: settings.min_auto_priority_delay,
        gave_up: false,
    }
}

/// keepalived's automatic priority: a wake-up later than `min_delay` moves the event loop to
/// SCHED_RR at 1, then one step up per late wake-up, never above the cap.
#[derive(Debug)]
pub struct AutoPriority {
    cap: Option<i32>,
    current: Option<i32>,
    min_delay: Duration,
    gave_up: bool,
}

impl AutoPriority {
    /// The priority the event loop runs at (None: normal scheduling).
    pub fn current(&self) -> Option<i32> {
        self.current
    }

    /// The priority a wake-up `late` after its deadline moves to, if it moves.
    pub fn next_step(&self, late: Duration) -> Option<i32> {
        let cap = self.cap?;
        if self.gave_up || late < self.min_delay {
            return None;
        }
        let next = self.current.map_or(1, |p| p + 1);
        (next <= cap).then_some(next)
    }

    /// Gives the calling thread the priority the process started at: the event loop runs on a
    /// thread of its own, which SCHED_RESET_ON_FORK started at normal scheduling.
    pub fn enter_loop_thread(&mut self) {
        let Some(priority) = self.current else {
            return;
        };
        if let Err(e) = set_round_robin(priority) {
            tracing::warn!(
                "SCHED_RR priority {priority} refused for the event loop's thread: {}",
                refusal(&e, priority)
            );
            self.current = None;
        }
    }

    /// Called with how late the deadline timer woke the event loop.
    pub fn on_wake_up(&mut self, late: Duration) {
        let Some(next) = self.next_step(late) else {
            return;
        };
        match set_round_robin(next) {
            Ok(()) => {
                tracing::warn!(
                    "woke {:.1} ms late: raised to SCHED_RR priority {next} (max_auto_priority {})",
                    late.as_secs_f64() * 1000.0,
                    self.cap.unwrap_or(0)
                );
                self.current = Some(next);
            }
            Err(e) => {
                tracing::warn!(
                    "woke {:.1} ms late, but SCHED_RR is refused: {}; staying at normal priority",
                    late.as_secs_f64() * 1000.0,
                    refusal(&e, next)
                );
                self.gave_up = true;
            }
        }
    }
}

fn refusal(e: &io::Error, priority: i32) -> String {
    if e.raw_os_error() == Some(libc::EPERM) {
        format!("{e} (needs CAP_SYS_NICE or RLIMIT_RTPRIO of at least {priority})")
    } else {
        e.to_string()
    }
}

fn max_rr_priority() -> i32 {
    // SAFETY: plain sched_get_priority_max(2).
    let max = unsafe { libc::sched_get_priority_max(libc::SCHED_RR) };
    if max > 0 {
        max
    } else {
        99
    }
}

/// SCHED_RR at `priority` for the calling thread.
pub fn set_round_robin(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: sched_setscheduler(2) on the calling thread (0) with a valid sched_param.
    let ret = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | SCHED_RESET_ON_FORK, &param) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's policy and priority (sched_getscheduler / sched_getparam).
pub fn current_policy() -> io::Result<(i32, i32)> {
    // SAFETY: plain system calls on the calling thread; param is a valid out pointer.
    unsafe {
        let policy = libc::sched_getscheduler(0);
        if policy < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut param = libc::sched_param { sched_priority: 0 };
        if libc::sched_getparam(0, &mut param) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((policy & !SCHED_RESET_ON_FORK, param.sched_priority))
    }
}

/// Restricts the calling thread (and what it starts later) to `cpus`.
pub fn set_affinity(cpus: &[u16]) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let capacity = 8 * std::mem::size_of::<libc::cpu_set_t>();
    for &cpu in cpus {
        if usize::from(cpu) >= capacity {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("CPU {cpu} is beyond the {capacity} a CPU set holds"),
            ));
        }
        // SAFETY: cpu is below the set's capacity (checked above).
        unsafe { libc::CPU_SET(usize::from(cpu), &mut set) };
    }
    // SAFETY: set is a valid cpu_set_t of the size given.
    let ret = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if ret < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINVAL) {
            let online = std::thread::available_parallelism().map_or(0, |n| n.get());
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("none of these CPUs is available (this machine has {online} online)"),
            ));
        }
        return Err(e);
    }
    Ok(())
}

/// The CPUs the calling thread may run on.
pub fn current_affinity() -> io::Result<Vec<u16>> {
    // SAFETY: a zeroed cpu_set_t is a valid out buffer of the size given.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let ret =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let capacity = 8 * std::mem::size_of::<libc::cpu_set_t>();
    Ok((0..capacity)
        // SAFETY: CPU_ISSET reads the set within its size.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .map(|cpu| cpu as u16)
        .collect())
}

/// mlockall: the pages in use now and every page touched later stay in memory. MCL_ONFAULT
/// locks pages as they are first touched rather than filling every mapping at once (thread
/// stacks, malloc's reserved arenas), so RSS stays what vipd really uses.
fn lock_memory() -> io::Result<()> {
    // SAFETY: plain mlockall(2).
    let ret = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stepping(cap: i32) -> AutoPriority {
        AutoPriority {
            cap: Some(cap),
            current: None,
            min_delay: Duration::from_millis(50),
            gave_up: false,
        }
    }

    #[test]
    fn automatic_steps_start_at_one_and_stop_at_the_cap() {
        let mut auto = stepping(2);
        assert_eq!(
            auto.next_step(Duration::from_millis(10)),
            None,
            "not late enough"
        );
        assert_eq!(auto.next_step(Duration::from_millis(60)), Some(1));
        auto.current = Some(1);
        assert_eq!(auto.next_step(Duration::from_millis(60)), Some(2));
        auto.current = Some(2);
        assert_eq!(auto.next_step(Duration::from_secs(5)), None, "at the cap");
    }

    #[test]
    fn no_cap_or_a_refusal_means_no_steps() {
        let mut auto = stepping(5);
        auto.cap = None;
        assert_eq!(auto.next_step(Duration::from_secs(5)), None);
        let mut auto = stepping(5);
        auto.gave_up = true;
        assert_eq!(auto.next_step(Duration::from_secs(5)), None);
    }

    #[test]
    fn round_robin_is_set_on_the_calling_thread_only() {
        // In a thread of its own, so the test runner's threads keep their scheduling. As root
        // (the tests' requirement) SCHED_RR is permitted.
        std::thread::spawn(|| {
            set_round_robin(3).expect("SCHED_RR as root");
            assert_eq!(current_policy().unwrap(), (libc::SCHED_RR, 3));
            let child = std::thread::spawn(|| current_policy().unwrap())
                .join()
                .unwrap();
            assert_eq!(
                child.0,
                libc::SCHED_OTHER,
                "threads start at normal scheduling"
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn affinity_is_set_and_a_missing_cpu_is_a_clear_error() {
        std::thread::spawn(|| {
            set_affinity(&[0]).unwrap();
            assert_eq!(current_affinity().unwrap(), vec![0]);
            let e = set_affinity(&[1000]).unwrap_err();
            assert!(e.to_string().contains("available"), "{e}");
            let e = set_affinity(&[60000]).unwrap_err();
            assert!(e.to_string().contains("CPU set"), "{e}");
        })
        .join()
        .unwrap();
    }
}
