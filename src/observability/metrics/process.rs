//! Process metrics under the standard unprefixed names every Prometheus client library uses
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//! `process_open_fds`, `process_max_fds`, `process_start_time_seconds`), read from `/proc/self`
//! at scrape time, and `portcullis_build_info{version,revision}`. Off Linux, or when `/proc`
//! cannot be read, the process families are left out rather than reported as zero.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The clock ticks per second of `/proc/<pid>/stat` (USER_HZ): 100 on every Linux ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// The git revision the binary was built from (set by `build.rs`), `unknown` outside a checkout.
pub const REVISION: &str = env!("PORTCULLIS_GIT_REVISION");

/// What `/proc/self` tells of the process at one moment.
#[derive(Debug, Default, PartialEq)]
pub struct ProcessSample {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
}

impl ProcessSample {
    /// Reads `/proc/self`; `None` when it cannot be read (not Linux, no procfs).
    pub fn read() -> Option<ProcessSample> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let mut s = parse_stat(&stat, boot_time(&boot)?)?;
        s.resident_bytes = status_kib(&status, "VmRSS:")? * 1024;
        s.virtual_bytes = status_kib(&status, "VmSize:").unwrap_or(0) * 1024;
        s.open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        s.max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| max_open_files(&l));
        Some(s)
    }
}

/// CPU seconds and start time from `/proc/self/stat`, given the boot time (epoch seconds).
fn parse_stat(stat: &str, boot_time: u64) -> Option<ProcessSample> {
    // The command name (field 2) is in parentheses and may hold spaces: fields are counted
    // after its closing parenthesis, where field 3 (state) is the first.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
    let cpu_ticks = field(14)? + field(15)?;
    let start_ticks = field(22)?;
    Some(ProcessSample {
        cpu_seconds: cpu_ticks / TICKS_PER_SECOND,
        start_time_seconds: boot_time as f64 + start_ticks / TICKS_PER_SECOND,
        ..ProcessSample::default()
    })
}

fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A `Name:   1234 kB` line of `/proc/self/status`, in KiB.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix(name))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The soft limit of `Max open files` in `/proc/self/limits` (`None` when unlimited).
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// Encodes the process families and the build info at each scrape.
#[derive(Debug, Default)]
pub(super) struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let info = prometheus_client::metrics::info::Info::new([
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", REVISION),
        ]);
        let m = enc.encode_descriptor(
            "portcullis_build",
            "The running build: version and git revision",
            None,
            info.metric_type(),
        )?;
        info.encode(m)?;
        let Some(s) = ProcessSample::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(enc.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        gauge(
            &mut enc,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            s.resident_bytes as f64,
        )?;
        gauge(
            &mut enc,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            s.virtual_bytes as f64,
        )?;
        gauge(
            &mut enc,
            "process_open_fds",
            "Number of open file descriptors",
            s.open_fds as f64,
        )?;
        if let Some(max) = s.max_fds {
            gauge(
                &mut enc,
                "process_max_fds",
                "Maximum number of open file descriptors",
                max as f64,
            )?;
        }
        gauge(
            &mut enc,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            s.start_time_seconds,
        )
    }
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn now_epoch_seconds() -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    #[test]
    fn stat_fields_count_after_the_command_name() {
        // The command holds a space and a parenthesis, as a hostile process name could.
        let stat = "4242 (port cul)lis) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 3 0 5000 1000 200";
        let s = parse_stat(stat, 1_700_000_000).unwrap();
        assert_eq!(s.cpu_seconds, 4.0);
        assert_eq!(s.start_time_seconds, 1_700_000_050.0);
    }

    #[test]
    fn status_and_limits_lines() {
        let status = "Name:\tportcullis\nVmSize:\t  12345 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(2048));
        assert_eq!(status_kib(status, "VmSize:"), Some(12345));
        let limits = "Limit Soft Limit Hard Limit Units\nMax open files            20000                20000                files\n";
        assert_eq!(max_open_files(limits), Some(20000));
        assert_eq!(
            max_open_files("Max open files unlimited unlimited files"),
            None
        );
        assert_eq!(
            boot_time("cpu 1 2 3\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn this_process_reads_sanely() {
        let s = ProcessSample::read().expect("procfs on the test machine");
        assert!(s.resident_bytes > 1024 * 1024, "{s:?}");
        assert!(s.open_fds >= 3, "{s:?}");
        let now = now_epoch_seconds();
        assert!(s.start_time_seconds <= now + 1.0 && s.start_time_seconds > now - 86_400.0 * 30.0);
    }
}
