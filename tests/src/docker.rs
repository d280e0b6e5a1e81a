//! A real container engine for the end-to-end tests: Debian's `docker.io` (Docker 20.10), one
//! `dockerd` per test, started and stopped by the test like the registry and S3.
//!
//! Several test binaries (ours, other checkouts', CI's) may run a `dockerd` on this machine at the
//! same time, so nothing of a [`Docker`] is at a fixed place: its data root, exec root (where the
//! managed containerd keeps its socket), pidfile and API socket live in a temporary directory; its
//! containerd namespaces are named after that directory; it has no default `docker0` bridge
//! (`--bridge none`) and leaves iptables alone (`--iptables=false`). Containers that publish ports
//! join a bridge network of the test's own ([`Docker::network`]), whose interface name and
//! subnet are picked at random and checked against the host's routes; published ports are
//! forwarded by docker-proxy on 127.0.0.1 only. Storage is `vfs`, which works on any file
//! system, inside containers included.
//!
//! Base images are never pulled (there is no registry but the tests' own here): they are Debian
//! roots made by `mmdebstrap` and `docker import`ed. Making a root downloads and unpacks a few
//! hundred MB of packages, so [`cached_rootfs`] keeps each tarball in a cache that outlives the
//! checkout (a CI run starts from a fresh clone), keyed by everything that goes into it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Debian's daemon (package docker.io).
pub const DOCKERD: &str = "dockerd";

/// A running `dockerd`; stopped, with everything it made, on drop.
pub struct Docker {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    network: String,
    bridge: String,
}

impl Docker {
    /// Starts a daemon of its own and a bridge network for published ports; panics (with the
    /// daemon's log) when it does not come up within a minute.
    pub fn start() -> Docker {
        let dir = tempfile::Builder::new()
            .prefix("forge-docker-")
            .tempdir()
            .expect("tempdir");
        let id = dir
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
            .trim_start_matches("forge-docker-")
            .to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "");
        let socket = dir.path().join("docker.sock");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("dockerd log");
        let child = Command::new(DOCKERD)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .args([
                "--storage-driver",
                "vfs",
                "--bridge",
                "none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--shutdown-timeout",
                "3",
            ])
            .arg("--containerd-namespace")
            .arg(format!("forge-{id}"))
            .arg("--containerd-plugins-namespace")
            .arg(format!("forge-{id}-plugins"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {DOCKERD}: {e}"));
        let mut docker = Docker {
            child,
            socket,
            network: format!("forge-{id}"),
            bridge: String::new(),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = docker.child.try_wait() {
                panic!("dockerd exited with {status}:\n{}", docker.log());
            }
            let ping = docker
                .cmd()
                .args(["version", "--format", "{{.Server.Version}}"])
                .output();
            if ping.as_ref().is_ok_and(|o| o.status.success()) {
                break;
            }
            if Instant::now() > deadline {
                panic!("dockerd did not answer within 60 s:\n{}", docker.log());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        docker.create_network(&id);
        docker
    }

    /// A bridge network with a random interface name and a free random /24 under 10.0.0.0/8.
    fn create_network(&mut self, id: &str) {
        let mut last = String::new();
        for attempt in 0..8u32 {
            let seed = random_u32() ^ attempt;
            let subnet = format!("10.{}.{}.0/24", 64 + (seed >> 8) % 128, seed % 256);
            if route_overlaps(&subnet) {
                continue;
            }
            // Interface names are at most 15 bytes.
            let bridge = format!("fg{}", &format!("{id}{seed:08x}")[..12]);
            let out = self.run(&[
                "network",
                "create",
                "--driver",
                "bridge",
                "--subnet",
                &subnet,
                "--opt",
                &format!("com.docker.network.bridge.name={bridge}"),
                "--opt",
                "com.docker.network.bridge.enable_ip_masquerade=false",
                &self.network.clone(),
            ]);
            if out.status.success() {
                self.bridge = bridge;
                return;
            }
            last = crate::stderr(&out);
        }
        panic!("could not create a bridge network for the test's dockerd: {last}");
    }

    /// `unix:///…/docker.sock`, for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The user-defined bridge network containers join to publish ports (`--network NAME`).
    pub fn network(&self) -> &str {
        &self.network
    }

    /// A `docker` command talking to this daemon (and with a client config of its own, so the
    /// user's `~/.docker` is neither read nor written).
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .stdin(Stdio::null());
        cmd
    }

    /// Sets `DOCKER_HOST` (and a client config) on a command of ours that runs `docker` itself
    /// (`cross`, `cargo forge-*`).
    pub fn env(&self, cmd: &mut Command) {
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .env_remove("DOCKER_CONTEXT");
    }

    /// Runs `docker ARGS` (never panics on failure).
    pub fn run(&self, args: &[&str]) -> Output {
        crate::run(self.cmd().args(args))
    }

    /// Runs `docker ARGS`, panics on failure; stdout, trimmed.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        crate::assert_success(&out, &format!("docker {}", args.join(" ")));
        crate::stdout(&out).trim().to_string()
    }

    /// `docker inspect` of an image or container, as JSON (the first object).
    #[track_caller]
    pub fn inspect(&self, what: &str) -> serde_json::Value {
        let text = self.ok(&["inspect", what]);
        let v: serde_json::Value = serde_json::from_str(&text).expect("docker inspect JSON");
        v[0].clone()
    }

    /// `docker import` of a root file system tarball as `name`, with Dockerfile `changes`
    /// (`ENV K=V`, `CMD …`); returns the image id.
    #[track_caller]
    pub fn import(&self, tarball: &Path, name: &str, platform: &str, changes: &[String]) -> String {
        let mut cmd = self.cmd();
        cmd.arg("import").arg("--platform").arg(platform);
        for c in changes {
            cmd.arg("--change").arg(c);
        }
        cmd.arg(tarball).arg(name);
        let out = crate::run(&mut cmd);
        crate::assert_success(&out, &format!("docker import {}", tarball.display()));
        crate::stdout(&out).trim().to_string()
    }

    /// Waits until the health of `container` is `healthy` (panics when it turns `unhealthy`,
    /// the container stops, or `limit` passes); returns the last health log.
    #[track_caller]
    pub fn wait_healthy(&self, container: &str, limit: Duration) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let state = self.inspect(container)["State"].clone();
            let health = state["Health"]["Status"].as_str().unwrap_or("").to_string();
            if health == "healthy" {
                return state["Health"].clone();
            }
            if health == "unhealthy" || state["Running"] == false || Instant::now() > deadline {
                let logs = self.run(&["logs", container]);
                panic!(
                    "container {container} did not become healthy (status `{health}`): {state:#}\n--- logs\n{}{}",
                    crate::stdout(&logs),
                    crate::stderr(&logs)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The host address (`127.0.0.1:PORT`) a container's `port` (`8080/tcp`) is published on.
    #[track_caller]
    pub fn published(&self, container: &str, port: &str) -> String {
        let text = self.ok(&["port", container, port]);
        text.lines()
            .find(|l| l.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| {
                panic!("{port} of {container} is not published on 127.0.0.1: {text}")
            })
            .to_string()
    }

    /// The daemon's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// The directory the daemon keeps everything in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        // Containers first (quickly: the shutdown timeout is short anyway), then the network,
        // whose bridge interface would outlive the daemon.
        let ids = self.run(&["ps", "-aq"]);
        let ids: Vec<String> = crate::stdout(&ids)
            .split_whitespace()
            .map(String::from)
            .collect();
        if !ids.is_empty() {
            let mut rm = self.cmd();
            rm.args(["rm", "-f"]).args(&ids);
            let _ = rm.output();
        }
        let _ = self.run(&["network", "rm", &self.network.clone()]);
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The managed containerd outlives a killed dockerd.
        if let Ok(pid) =
            std::fs::read_to_string(self.dir.path().join("exec/containerd/containerd.pid"))
        {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
        if !self.bridge.is_empty() && Path::new("/sys/class/net").join(&self.bridge).exists() {
            let _ = Command::new("ip")
                .args(["link", "delete", &self.bridge])
                .status();
        }
        // Network namespaces and other mounts under the directory would stop its removal.
        let prefix = self.dir.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|p| p.starts_with(&prefix))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = Command::new("umount").args(["-l", p]).status();
        }
    }
}

/// Whether `subnet` (`a.b.c.0/24`) overlaps a route of the host (another daemon's network, a
/// VPN...).
fn route_overlaps(subnet: &str) -> bool {
    fn parse(cidr: &str) -> Option<(u32, u32)> {
        let (addr, len) = cidr.split_once('/').unwrap_or((cidr, "32"));
        let addr: std::net::Ipv4Addr = addr.parse().ok()?;
        let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        Some((u32::from(addr) & mask, mask))
    }
    let Some((net, mask)) = parse(subnet) else {
        return true;
    };
    let Ok(out) = Command::new("ip").args(["-4", "route", "show"]).output() else {
        return false;
    };
    String::from_utf8_lossy(&out.stdout).lines().any(|l| {
        let first = l.split_whitespace().next().unwrap_or("");
        match parse(first) {
            // Two prefixes overlap when they agree on the shorter one.
            Some((other, other_mask)) => {
                let m = mask & other_mask;
                net & m == other & m
            }
            None => false, // `default` and the like
        }
    })
}

/// A random number from the OS (no `rand` dependency for one number).
fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish() as u32
}

/// A Debian root, made with mmdebstrap.
#[derive(Clone, Debug)]
pub struct RootSpec {
    /// What the root is for (part of the file name), e.g. `cross-aarch64-unknown-linux-gnu`.
    pub name: String,
    pub suite: String,
    /// dpkg architectures, the native one first.
    pub architectures: Vec<String>,
    /// Packages to add to `minbase` (`name`, `name:arch`, `name=version`).
    pub packages: Vec<String>,
    /// `deb …` lines.
    pub sources: Vec<String>,
}

impl RootSpec {
    /// bookworm with updates and security (where Debian's rustc-web comes from), from
    /// `FORGE_DEBIAN_MIRROR` or deb.debian.org.
    pub fn bookworm(name: &str, architectures: &[&str], packages: &[String]) -> RootSpec {
        let mirror = std::env::var("FORGE_DEBIAN_MIRROR")
            .ok()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "http://deb.debian.org/debian".to_string());
        let security = mirror.replace("/debian", "/debian-security");
        RootSpec {
            name: name.to_string(),
            suite: "bookworm".into(),
            architectures: architectures.iter().map(|a| a.to_string()).collect(),
            packages: packages.to_vec(),
            sources: vec![
                format!("deb {mirror} bookworm main"),
                format!("deb {mirror} bookworm-updates main"),
                format!("deb {security} bookworm-security main"),
            ],
        }
    }

    /// A short hash of everything that goes into the root.
    pub fn key(&self) -> String {
        use sha2::Digest;
        let mut packages = self.packages.clone();
        packages.sort();
        let text = format!(
            "{}\n{}\n{}\n{}\n",
            self.suite,
            self.architectures.join(","),
            packages.join(","),
            self.sources.join("\n")
        );
        hex::encode(sha2::Sha256::digest(text.as_bytes()))[..16].to_string()
    }
}

/// Where made roots are kept: `FORGE_TEST_IMAGE_CACHE`, else `$XDG_CACHE_HOME/cargo-forge/test-images`
/// (`~/.cache/…`), beside the roots `cargo forge-deb --install-test` caches.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FORGE_TEST_IMAGE_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/root/.cache"))
        .join("cargo-forge/test-images")
}

/// The tarball of the root `spec`, made with mmdebstrap on first use (minutes) and cached by
/// [`RootSpec::key`]; concurrent tests wait for one another through a lock file.
pub fn cached_rootfs(spec: &RootSpec) -> PathBuf {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).expect("create the test image cache");
    let tarball = dir.join(format!("{}-{}.tar", spec.name, spec.key()));
    let lock = std::fs::File::create(dir.join(format!("{}.lock", spec.name))).expect("lock file");
    lock.lock().expect("lock the test image cache");
    if tarball.is_file() {
        return tarball;
    }
    let partial = tarball.with_extension("tar.partial");
    let started = Instant::now();
    eprintln!(
        "note: making the Debian root `{}` with mmdebstrap (once; cached as {})",
        spec.name,
        tarball.display()
    );
    let mut cmd = Command::new("mmdebstrap");
    cmd.args(["--quiet", "--variant=minbase", "--format=tar"])
        .arg(format!("--architectures={}", spec.architectures.join(",")))
        .arg(format!("--include={}", spec.packages.join(",")))
        .args(["--aptopt=Acquire::Retries \"3\""])
        // Documentation is of no use in a build image: smaller tarballs, faster imports.
        .args([
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-exclude=/usr/share/info/*",
        ])
        .arg(&spec.suite)
        .arg(&partial)
        .args(&spec.sources)
        .env("LC_ALL", "C.UTF-8");
    let out = crate::run(&mut cmd);
    crate::assert_success(&out, &format!("mmdebstrap of `{}`", spec.name));
    std::fs::rename(&partial, &tarball).expect("move the made root into the cache");
    let mut record = std::fs::File::create(tarball.with_extension("txt")).expect("record");
    let _ = writeln!(
        record,
        "{spec:#?}\nmade in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "note: the root `{}` took {:.0} s to make",
        spec.name,
        started.elapsed().as_secs_f64()
    );
    tarball
}

/// The version of an installed Debian package (`dpkg-query`), e.g. of `libstd-rust-web-dev`.
pub fn installed_version(package: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// The Debian packages holding the shared libraries `binary` needs (its `NEEDED` entries), so an
/// image can run a program mounted from this machine.
pub fn runtime_packages(binary: &Path) -> Vec<String> {
    let out = crate::run(Command::new("readelf").arg("-d").arg(binary));
    crate::assert_success(&out, &format!("readelf -d {}", binary.display()));
    let mut packages = std::collections::BTreeSet::new();
    for line in crate::stdout(&out).lines() {
        let Some(soname) = line
            .split_once("Shared library: [")
            .and_then(|(_, rest)| rest.strip_suffix(']'))
        else {
            continue;
        };
        let candidates = [
            format!("/usr/lib/x86_64-linux-gnu/{soname}"),
            format!("/lib/x86_64-linux-gnu/{soname}"),
        ];
        let owner = candidates.iter().find_map(|path| {
            let out = Command::new("dpkg-query")
                .args(["-S", path])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let pkg = text.split(':').next()?.trim().to_string();
            (out.status.success() && !pkg.is_empty()).then_some(pkg)
        });
        match owner {
            Some(p) => {
                packages.insert(p);
            }
            None => panic!(
                "no Debian package owns {soname}, needed by {}",
                binary.display()
            ),
        }
    }
    packages.into_iter().collect()
}

/// A local image for `cross` that builds `triple` (linux-gnu targets) with Debian's toolchain
/// mounted from this machine (`/usr`, which cross mounts at `/rust`): a bookworm root with the
/// target's gcc, libc and zlib dev packages, pkg-config, the host's gcc (build scripts), the
/// standard libraries of the host and the target pinned to the host's rustc-web (the mounted
/// `rustc` loads its driver from the image, and finds its sysroot there), and the libraries the
/// mounted `cargo` links. Its environment points cargo, cc and pkg-config at the target, as
/// cross's own images do. Returns the image's name, `forge-cross/<triple>:<key>`.
#[track_caller]
pub fn cross_image(docker: &Docker, triple: &str) -> String {
    let t = forge_core::target::lookup(triple).expect("a known target");
    let std_version = installed_version("libstd-rust-web-dev:amd64")
        .expect("libstd-rust-web-dev is installed (cargo xtask setup)");
    let mut packages: Vec<String> = vec![
        "gcc".into(),
        "libc6-dev".into(),
        "pkg-config".into(),
        format!("gcc-{}", t.gcc_prefix.trim_end_matches('-')),
        format!("libc6-dev-{}-cross", t.dpkg_arch),
        format!("zlib1g-dev:{}", t.dpkg_arch),
        format!("libstd-rust-web-dev={std_version}"),
        format!("libstd-rust-web-dev:{}={std_version}", t.dpkg_arch),
    ];
    packages.extend(runtime_packages(Path::new("/usr/bin/cargo")));
    packages.sort();
    packages.dedup();
    let spec = RootSpec::bookworm(
        &format!("cross-{triple}"),
        &["amd64", &t.dpkg_arch],
        &packages,
    );
    let tarball = cached_rootfs(&spec);
    let name = format!("forge-cross/{triple}:{}", spec.key());
    let upper = t.env_upper();
    let lower = t.env_lower();
    let prefix = &t.gcc_prefix;
    let changes: Vec<String> = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!("CARGO_TARGET_{upper}_LINKER={prefix}gcc"),
        format!("CC_{lower}={prefix}gcc"),
        format!("AR_{lower}={prefix}ar"),
        format!(
            "PKG_CONFIG_LIBDIR_{lower}=/usr/lib/{}/pkgconfig:/usr/share/pkgconfig",
            t.multiarch
        ),
        "PKG_CONFIG_ALLOW_CROSS=1".to_string(),
    ]
    .into_iter()
    .map(|e| format!("ENV {e}"))
    .collect();
    docker.import(&tarball, &name, "linux/amd64", &changes);
    name
}
