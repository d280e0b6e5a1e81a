//! Architectures and binfmt: whether a package's architecture needs qemu here, the kernel's
//! `binfmt_misc` registration of its qemu-user interpreter, and that interpreter inside a root.

use super::*;

pub(super) fn host_dpkg_arch() -> Option<String> {
    forge_core::target::lookup(forge_core::target::host_triple())
        .ok()
        .map(|t| t.dpkg_arch)
}

/// Whether programs of `arch` need qemu here. An amd64 kernel runs i386 programs itself (IA32
/// emulation, on in Debian's kernels), so an i386 root needs no binfmt entry.
pub fn is_foreign(arch: &str) -> bool {
    host_dpkg_arch().is_none_or(|h| h != arch && !(h == "amd64" && arch == "i386"))
}

/// The qemu-user program for the root's architecture (`qemu-aarch64`).
pub(super) fn qemu_name(t: &InstallTest) -> String {
    if t.target.dpkg_arch == t.arch {
        return t.target.qemu.clone();
    }
    forge_core::target::triple_for_dpkg_arch(&t.arch)
        .and_then(|triple| forge_core::target::lookup(triple).ok())
        .map_or_else(|| t.target.qemu.clone(), |i| i.qemu)
}

/// A binfmt_misc registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binfmt {
    pub name: String,
    pub enabled: bool,
    pub interpreter: PathBuf,
    pub flags: String,
}

impl Binfmt {
    /// Parses a `/proc/sys/fs/binfmt_misc/<name>` file.
    pub fn parse(name: &str, text: &str) -> Binfmt {
        let mut b = Binfmt {
            name: name.to_string(),
            enabled: false,
            interpreter: PathBuf::new(),
            flags: String::new(),
        };
        for line in text.lines() {
            if line.trim() == "enabled" {
                b.enabled = true;
            } else if let Some(i) = line.strip_prefix("interpreter ") {
                b.interpreter = PathBuf::from(i.trim());
            } else if let Some(f) = line.strip_prefix("flags:") {
                b.flags = f.trim().to_string();
            }
        }
        b
    }

    /// Whether the kernel opened the interpreter at registration (`F`), so it need not exist
    /// inside a chroot.
    pub fn fix_binary(&self) -> bool {
        self.flags.contains('F')
    }
}

pub(super) const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// The enabled binfmt registration that runs `arch` programs: `qemu-<cpu>`, or any entry whose
/// interpreter is named after the qemu binary.
pub fn find_binfmt(arch: &str, qemu: &str) -> Result<Binfmt> {
    let dir = Path::new(BINFMT_DIR);
    let cpu = qemu.trim_start_matches("qemu-");
    let global_enabled = fs::read_to_string(dir.join("status")).map(|s| s.trim() == "enabled");
    let mut found = None;
    if let Ok(true) = global_enabled {
        if let Ok(text) = fs::read_to_string(dir.join(qemu)) {
            found = Some(Binfmt::parse(qemu, &text));
        } else if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name == "status" || name == "register" {
                    continue;
                }
                if let Ok(text) = fs::read_to_string(e.path()) {
                    let b = Binfmt::parse(&name, &text);
                    let interp = b
                        .interpreter
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if interp == qemu
                        || interp.starts_with(&format!("{qemu}-"))
                        || interp.starts_with(&format!("{cpu}-binfmt"))
                    {
                        found = Some(b);
                        break;
                    }
                }
            }
        }
    }
    let why = match (&global_enabled, &found) {
        (_, Some(b)) if b.enabled => return Ok(b.clone()),
        (_, Some(b)) => format!("the registration `{BINFMT_DIR}/{}` is disabled", b.name),
        (Ok(false), None) => format!("binfmt_misc is disabled (`{BINFMT_DIR}/status`)"),
        (Err(_), None) => format!("binfmt_misc is not mounted at `{BINFMT_DIR}`"),
        (Ok(true), None) => format!("nothing is registered as `{BINFMT_DIR}/{qemu}`"),
    };
    Err(anyhow::anyhow!(
        "installing and running `{arch}` packages on this machine needs qemu registered with the \
         kernel (binfmt_misc), and {why}"
    ))
    .kind(ErrorKind::MissingTool)
    .hint(format!(
        "install qemu with `apt-get install qemu-user-static binfmt-support`; in a container or \
         where binfmt_misc is not mounted, run (as root) `mount -t binfmt_misc binfmt_misc \
         {BINFMT_DIR} && update-binfmts --enable {qemu}`"
    ))
}

/// For a registration without the `F` flag, puts a static qemu at the interpreter path inside
/// the root.
pub fn provide_interpreter(root: &Path, binfmt: &Binfmt, qemu: &str) -> Result<()> {
    if binfmt.fix_binary() || binfmt.interpreter.as_os_str().is_empty() {
        return Ok(());
    }
    let inside = root.join(
        binfmt
            .interpreter
            .strip_prefix("/")
            .unwrap_or(&binfmt.interpreter),
    );
    if inside.exists() {
        return Ok(());
    }
    let source =
        which::which(format!("{qemu}-static")).unwrap_or_else(|_| binfmt.interpreter.clone());
    if let Some(parent) = inside.parent() {
        forge_core::fsx::create_dir_all(parent)?;
    }
    fs::copy(&source, &inside).with_context(|| {
        format!(
            "failed to copy `{}` into the root as `{}`",
            source.display(),
            inside.display()
        )
    })?;
    Ok(())
}
