//! `--boot-test`: boots the image under qemu-system with software emulation and waits for the
//! package's service.
//!
//! The machine: `q35` (amd64) or `virt` (arm64), `accel=tcg` (KVM is not assumed to work: on
//! many CI runners and on this project's build machine it does not), the image as a virtio
//! disk with `snapshot=on` (the output file is never written), user networking with the
//! service's port forwarded to a free port on the host's loopback, UEFI firmware from `ovmf` /
//! `qemu-efi-aarch64`, or SeaBIOS for the BIOS path. A hybrid image is booted once per
//! firmware. The serial console goes to a log file next to the image's work files.
//!
//! The service is up when (a) with `boot-test.port`: a connection to the forwarded port stays
//! open or answers (with `http`, a `GET` answers 2xx) — a refused connection in the guest shows
//! on the host as a connection closed at once; or (b) without a port: the image's boot report
//! (`forge-boot-report.service`, which runs `systemctl is-active` on the package's enabled units
//! once the machine reached multi-user and writes the result to the console) says `active` for
//! every unit. A kernel panic, systemd's emergency mode, a unit reported failed, or qemu exiting
//! ends the wait at once with the console's tail. Then the machine is powered off through QMP
//! (`system_powerdown`: ACPI, so systemd shuts down cleanly), with `quit` after a grace period.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::process::Cmd;
use forge_core::Shell;

/// Firmware a boot uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Firmware {
    Uefi,
    Bios,
}

impl Firmware {
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Uefi => "uefi",
            Firmware::Bios => "bios",
        }
    }
}

/// One boot test, decided.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BootTest {
    pub arch: String,
    pub firmware: Firmware,
    /// The disk image and the format qemu reads it as.
    pub image: PathBuf,
    pub format: String,
    /// Guest TCP port to forward and wait for.
    pub port: Option<u16>,
    /// HTTP path to `GET` on the port.
    pub http: Option<String>,
    /// Units the boot report must show active (when no port is given).
    pub units: Vec<String>,
    pub timeout: Duration,
    pub memory_mib: u32,
    /// A NoCloud seed disk to attach (images with cloud-init).
    pub seed: Option<PathBuf>,
    /// Where the serial console is written.
    pub console_log: PathBuf,
}

/// What a boot test measured.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BootReport {
    pub arch: String,
    pub firmware: Firmware,
    /// Seconds from power-on to the service answering (or reported active).
    pub seconds_to_service: f64,
    /// Seconds from the power-off request to qemu's exit (`None`: it had to be stopped).
    pub seconds_to_power_off: Option<f64>,
    /// What showed the service up: the HTTP status line, `tcp`, or the boot report's lines.
    pub evidence: String,
    pub console_log: PathBuf,
}

/// The qemu program and machine arguments of an architecture.
fn machine(arch: &str, firmware: Firmware) -> Result<(String, Vec<String>)> {
    let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match (arch, firmware) {
        ("amd64", Firmware::Uefi) => Ok((
            "qemu-system-x86_64".into(),
            [
                args(&["-machine", "q35,accel=tcg", "-cpu", "max", "-bios"]),
                vec![firmware_file(
                    &[
                        "/usr/share/ovmf/OVMF.fd",
                        "/usr/share/OVMF/OVMF.fd",
                        "/usr/share/qemu/OVMF.fd",
                    ],
                    "ovmf",
                )?],
            ]
            .concat(),
        )),
        ("amd64", Firmware::Bios) => Ok((
            "qemu-system-x86_64".into(),
            args(&["-machine", "q35,accel=tcg", "-cpu", "max"]),
        )),
        ("arm64", Firmware::Uefi) => Ok((
            "qemu-system-aarch64".into(),
            [
                args(&["-machine", "virt,accel=tcg", "-cpu", "cortex-a72", "-bios"]),
                vec![firmware_file(
                    &[
                        "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
                        "/usr/share/AAVMF/QEMU_EFI.fd",
                    ],
                    "qemu-efi-aarch64",
                )?],
            ]
            .concat(),
        )),
        (arch, fw) => Err(anyhow::anyhow!(
            "`--boot-test` boots amd64 and arm64 images, not {arch} ({})",
            fw.name()
        ))
        .kind(ErrorKind::Usage),
    }
}

fn firmware_file(candidates: &[&str], package: &str) -> Result<String> {
    candidates
        .iter()
        .find(|p| Path::new(p).is_file())
        .map(|p| p.to_string())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the UEFI firmware for the boot test is not installed ({})",
                candidates[0]
            )
        })
        .kind(ErrorKind::MissingTool)
        .hint(format!("apt-get install {package}"))
}

/// A free TCP port on the loopback interface (closed again; qemu binds it right after).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("failed to find a free port")?;
    Ok(l.local_addr()?.port())
}

/// Removes terminal escape sequences and carriage returns from console text.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// What the console says so far.
#[derive(Debug, Default, PartialEq)]
pub struct ConsoleState {
    /// The last boot stage seen, for progress.
    pub stage: &'static str,
    /// A fatal condition.
    pub fatal: Option<String>,
    /// Units the boot report showed, with their state.
    pub reported: Vec<(String, String)>,
    /// The boot report is complete.
    pub report_done: bool,
}

/// Prefix of the boot report's lines.
pub const REPORT_PREFIX: &str = "cargo-forge boot report:";

/// Reads the (ANSI-stripped) console text.
pub fn scan_console(text: &str) -> ConsoleState {
    let mut st = ConsoleState {
        stage: "firmware",
        ..ConsoleState::default()
    };
    for line in text.lines() {
        let l = line.trim();
        if l.contains("Linux version") {
            st.stage = "kernel";
        } else if l.contains("Run /init as init process") {
            st.stage = "initramfs";
        } else if l.starts_with("Welcome to") {
            st.stage = "systemd";
        } else if l.contains("Reached target") && l.contains("multi-user.target") {
            st.stage = "services";
        } else if l.contains("Kernel panic") {
            st.fatal = Some(format!("the kernel panicked: {l}"));
        } else if l.contains("You are in emergency mode") {
            st.fatal = Some("systemd went into emergency mode".into());
        } else if let Some(rest) = l
            .find(REPORT_PREFIX)
            .map(|i| l[i + REPORT_PREFIX.len()..].trim())
        {
            if rest == "done" {
                st.report_done = true;
            } else if let Some((unit, state)) = rest.split_once(' ') {
                st.reported
                    .push((unit.to_string(), state.trim().to_string()));
            }
        }
    }
    st
}

/// Checks the forwarded port once: `Some(evidence)` when the service answered.
fn probe(addr: SocketAddr, http: Option<&str>) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(if http.is_some() {
        10
    } else {
        2
    })));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    match http {
        Some(path) => {
            s.write_all(
                format!("GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: cargo-forge-boot-test\r\n\r\n")
                    .as_bytes(),
            )
            .ok()?;
            let mut buf = Vec::new();
            let _ = s.take(64 * 1024).read_to_end(&mut buf);
            let text = String::from_utf8_lossy(&buf);
            let status = text.lines().next()?.trim().to_string();
            let code = status.split_whitespace().nth(1)?;
            if !code.starts_with('2') {
                return None;
            }
            let body = text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.trim())
                .unwrap_or_default();
            let body: String = body.chars().take(80).collect();
            Some(if body.is_empty() {
                status
            } else {
                format!("{status}: {body}")
            })
        }
        None => {
            let mut b = [0u8; 1];
            match s.read(&mut b) {
                Ok(0) => None,
                Ok(_) => Some("tcp (the service spoke first)".into()),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    Some("tcp (the connection stayed open)".into())
                }
                Err(_) => None,
            }
        }
    }
}

/// A QMP connection to the running qemu.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(path: &Path) -> Result<Qmp> {
        let s = UnixStream::connect(path).with_context(|| {
            format!(
                "failed to connect to qemu's QMP socket `{}`",
                path.display()
            )
        })?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut q = Qmp {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        };
        let mut greeting = String::new();
        q.reader.read_line(&mut greeting)?;
        q.execute("qmp_capabilities")?;
        Ok(q)
    }

    fn execute(&mut self, command: &str) -> Result<()> {
        writeln!(self.writer, "{}", serde_json::json!({ "execute": command }))?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                // qemu quit (expected after `quit`).
                return Ok(());
            }
            let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_default();
            if v.get("return").is_some() {
                return Ok(());
            }
            if let Some(e) = v.get("error") {
                bail!("qemu refused `{command}`: {e}");
            }
        }
    }
}

/// Runs one boot test.
pub fn run(t: &BootTest, shell: &Shell) -> Result<BootReport> {
    let qemu = machine(&t.arch, t.firmware)?;
    let dir = t
        .console_log
        .parent()
        .context("the console log has no directory")?
        .to_path_buf();
    forge_core::fsx::create_dir_all(&dir)?;
    // A Unix socket path must be short (108 bytes): a private directory under /tmp.
    let qmp_dir = tempfile::Builder::new()
        .prefix("forge-qmp-")
        .tempdir()
        .context("failed to create a directory for qemu's control socket")?;
    let qmp_path = qmp_dir.path().join("qmp.sock");
    let _ = fs::remove_file(&t.console_log);
    let host_port = match t.port {
        Some(_) => Some(free_port()?),
        None => None,
    };
    let cmd = qemu_command(t, qemu, host_port, &qmp_path);
    let qemu_log = dir.join(format!("qemu-{}-{}.log", t.arch, t.firmware.name()));
    let _ = fs::remove_file(&qemu_log);
    let started = Instant::now();
    let vm = cmd.spawn(shell, &qemu_log)?;
    let label = format!("{} ({})", t.arch, t.firmware.name());
    let progress = shell.spinner("Booting", label.clone());
    let addr = host_port.map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
    let outcome = wait_for_service(t, &vm, &qemu_log, addr, started, &progress, &label);
    let to_service = started.elapsed().as_secs_f64();
    progress.finish_and_clear();
    // Power off, whatever the outcome.
    let grace = if t.arch == "amd64" { 90 } else { 180 };
    let powered_off = power_off(&vm, &qmp_path, outcome.is_ok(), grace, &label, shell)?;
    drop(qmp_dir);
    let evidence = outcome
        .map_err(|e| {
            e.context(format!(
                "the boot test of the {} image ({}) failed; the serial console is in `{}`",
                t.arch,
                t.firmware.name(),
                t.console_log.display()
            ))
        })
        .kind(ErrorKind::Check)?;
    if powered_off.is_none() {
        shell.warn(format!(
            "the {label} machine did not power off within {grace}s of the ACPI request and was stopped"
        ));
    }
    Ok(BootReport {
        arch: t.arch.clone(),
        firmware: t.firmware,
        seconds_to_service: to_service,
        seconds_to_power_off: powered_off,
        evidence,
        console_log: t.console_log.clone(),
    })
}

/// The qemu command line of a boot test: the `machine` (program and arguments), the disk in snapshot mode (never
/// written), user networking with the service port forwarded to `host_port`, the serial console
/// to the console log, the QMP socket to power it off with.
fn qemu_command(
    t: &BootTest,
    (program, mut args): (String, Vec<String>),
    host_port: Option<u16>,
    qmp_path: &Path,
) -> Cmd {
    let mut netdev = "user,id=net0".to_string();
    if let (Some(guest), Some(host)) = (t.port, host_port) {
        netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
    }
    let cpus = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2);
    args.extend(
        [
            "-smp",
            &cpus.to_string(),
            "-m",
            &t.memory_mib.to_string(),
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-drive",
            &format!(
                "file={},format={},if=virtio,snapshot=on",
                t.image.display(),
                t.format
            ),
            "-netdev",
            &netdev,
            "-device",
            "virtio-net-pci,netdev=net0",
            "-serial",
            &format!("file:{}", t.console_log.display()),
            "-qmp",
            &format!("unix:{},server=on,wait=off", qmp_path.display()),
            "-device",
            "virtio-rng-pci",
        ]
        .map(String::from),
    );
    if let Some(seed) = &t.seed {
        args.extend([
            "-drive".to_string(),
            format!("file={},format=raw,if=virtio,readonly=on", seed.display()),
        ]);
    }
    let qemu_pkg = if t.arch == "amd64" {
        "qemu-system-x86"
    } else {
        "qemu-system-arm"
    };
    Cmd::new(&program)
        .args(&args)
        .install_hint(format!("apt-get install {qemu_pkg}"))
}

/// Watches the machine until the service is up — the forwarded port answers, or the boot
/// report on the serial console shows the units active — and returns what showed it; an error
/// when qemu stops, the console shows a fatal error or a failed unit, or the time is up.
fn wait_for_service(
    t: &BootTest,
    vm: &forge_core::process::Running,
    qemu_log: &Path,
    addr: Option<SocketAddr>,
    started: Instant,
    progress: &indicatif::ProgressBar,
    label: &str,
) -> Result<String> {
    let tail = |n: usize| -> String {
        let text = fs::read(&t.console_log).unwrap_or_default();
        let text = strip_ansi(&String::from_utf8_lossy(&text));
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    };
    loop {
        std::thread::sleep(Duration::from_millis(700));
        if let Some(status) = vm.try_wait()? {
            let q = fs::read_to_string(qemu_log).unwrap_or_default();
            break Err(anyhow::anyhow!(
                "qemu stopped ({status}) before the service was up\n{}\n{}",
                q.trim(),
                tail(15)
            ));
        }
        let text = strip_ansi(&String::from_utf8_lossy(
            &fs::read(&t.console_log).unwrap_or_default(),
        ));
        let st = scan_console(&text);
        progress.set_message(format!("{label}: {}", st.stage));
        if let Some(f) = st.fatal {
            break Err(anyhow::anyhow!("{f}\n{}", tail(20)));
        }
        if let Some(bad) = st
            .reported
            .iter()
            .find(|(u, s)| t.units.contains(u) && s != "active")
        {
            break Err(anyhow::anyhow!(
                "the boot report says `{}` is {}\n{}",
                bad.0,
                bad.1,
                tail(20)
            ));
        }
        if let Some(a) = addr {
            if let Some(evidence) = probe(a, t.http.as_deref()) {
                break Ok(evidence);
            }
        } else {
            let all_reported = t
                .units
                .iter()
                .all(|u| st.reported.iter().any(|(r, _)| r == u));
            let lines: Vec<String> = st
                .reported
                .iter()
                .map(|(u, s)| format!("{u} {s}"))
                .collect();
            if all_reported && (!t.units.is_empty() || st.report_done) {
                break Ok(if lines.is_empty() {
                    "boot report: multi-user.target reached".to_string()
                } else {
                    format!("systemctl is-active: {}", lines.join(", "))
                });
            }
            if st.report_done {
                break Err(anyhow::anyhow!(
                    "the boot report does not name {} (it has: {})",
                    t.units.join(", "),
                    if lines.is_empty() {
                        "nothing".to_string()
                    } else {
                        lines.join(", ")
                    }
                ));
            }
        }
        if started.elapsed() > t.timeout {
            break Err(anyhow::anyhow!(
                "the service was not up after {}s (last boot stage: {})\n{}",
                t.timeout.as_secs(),
                st.stage,
                tail(20)
            ));
        }
    }
}

/// Powers the machine off: after a successful test, the ACPI power button through QMP (repeated
/// until it goes down, for `grace` seconds); then, or after a failure, qemu is stopped. Returns
/// the seconds the clean power-off took, `None` when the machine had to be stopped.
fn power_off(
    vm: &forge_core::process::Running,
    qmp_path: &Path,
    service_up: bool,
    grace: u64,
    label: &str,
    shell: &Shell,
) -> Result<Option<f64>> {
    let off_started = Instant::now();
    let mut powered_off = None;
    if vm.try_wait()?.is_none() {
        let spinner = shell.spinner("Stopping", label);
        if service_up {
            let qmp = Qmp::connect(qmp_path);
            if let Err(e) = &qmp {
                shell.warn(format!(
                    "cannot ask the {label} machine to power off: {e:#}"
                ));
            }
            if let Ok(mut q) = qmp {
                // The service can answer before systemd-logind, which handles the power
                // button, runs: the request is repeated until the machine goes down.
                let mut asked = None::<Instant>;
                while off_started.elapsed() < Duration::from_secs(grace) {
                    if vm.try_wait()?.is_some() {
                        powered_off = Some(off_started.elapsed().as_secs_f64());
                        break;
                    }
                    if asked.is_none_or(|a| a.elapsed() > Duration::from_secs(20)) {
                        let _ = q.execute("system_powerdown");
                        asked = Some(Instant::now());
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
                if powered_off.is_none() {
                    let _ = q.execute("quit");
                }
            }
        }
        spinner.finish_and_clear();
        if vm.try_wait()?.is_none() {
            vm.kill()?;
        }
    }
    Ok(powered_off)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_is_read() {
        let text = "\u{1b}[0;32m  OK  \u{1b}[0m] Started x\r\n[    0.0] Linux version 6.1\nWelcome to Debian\ncargo-forge boot report: app.service active\n";
        let st = scan_console(&strip_ansi(text));
        assert_eq!(st.stage, "systemd");
        assert_eq!(
            st.reported,
            vec![("app.service".to_string(), "active".to_string())]
        );
        assert!(!st.report_done);
        let st = scan_console("Kernel panic - not syncing: VFS\n");
        assert!(st.fatal.unwrap().contains("panicked"));
        let st = scan_console("cargo-forge boot report: done\n");
        assert!(st.report_done);
        assert_eq!(strip_ansi("a\u{1b}[1;39mb\u{1b}[0mc"), "abc");
    }

    #[test]
    fn probe_tells_a_listener_from_a_closed_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                .unwrap();
        });
        let ev = probe(addr, Some("/health")).unwrap();
        assert!(ev.starts_with("HTTP/1.1 200 OK"), "{ev}");
        server.join().unwrap();
        // Nothing listens there any more.
        assert_eq!(probe(addr, None), None);
    }

    #[test]
    fn unknown_architecture_is_a_usage_error() {
        let err = machine("s390x", Firmware::Uefi).unwrap_err();
        assert_eq!(forge_core::exit::code_of(&err), 2);
    }
}
