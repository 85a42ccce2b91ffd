//! What the driver reads from Linux: process and system CPU time, resident memory, and the machine
//! description that heads the results.

use std::process::Command;

/// Clock ticks per second (`getconf CLK_TCK`), the unit of CPU times in `/proc`.
pub fn clk_tck() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn ticks_to_us(ticks: u64) -> u64 {
    ticks * 1_000_000 / clk_tck()
}

/// The fields of `/proc/<pid>/stat` after the command name (field 3 onwards).
fn stat_fields(pid: &str) -> Vec<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    // Field 3 (state) is a letter; map non-numbers to 0 to keep the positions.
    rest.split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect()
}

/// CPU time (user + system) a process has used, in µs.
pub fn process_cpu_us(pid: u32) -> u64 {
    let f = stat_fields(&pid.to_string());
    // utime and stime are fields 14 and 15; `f[0]` is field 3.
    ticks_to_us(f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0))
}

/// CPU time of this process plus that of its waited-for children (h2load runs), in µs.
pub fn own_and_children_cpu_us() -> u64 {
    let f = stat_fields("self");
    ticks_to_us(f.get(11..15).map(|s| s.iter().sum()).unwrap_or(0))
}

/// CPU time all cores spent busy (neither idle nor waiting for I/O), in µs, from `/proc/stat`.
pub fn system_busy_us() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or_default();
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| v.get(i).copied().unwrap_or(0))
        .sum();
    ticks_to_us(busy)
}

/// Resident set size of a process, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "not found".into())
}

/// The machine and tool versions, as markdown list items.
pub fn machine_description() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let mhz = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("cpu MHz"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "?".into());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    vec![
        format!("nproc: {}", first_line("nproc", &["--all"])),
        format!("CPU: {model} ({mhz} MHz)"),
        format!("memory: {:.1} GiB", mem_kib as f64 / 1024.0 / 1024.0),
        format!("kernel: {}", first_line("uname", &["-sr"])),
        format!("rustc: {}", first_line("rustc", &["--version"])),
        format!("go: {}", first_line("go", &["version"])),
        format!("h2load: {}", first_line("h2load", &["--version"])),
        format!(
            "load average at start: {}",
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        ),
    ]
}
