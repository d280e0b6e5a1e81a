//! The header of a package: the tags rpm 4.18, dnf and createrepo read, built from an
//! [`RpmPackage`] and what writing the payload learnt (sizes, digests, mtimes).
//!
//! The set follows what rpmbuild 4.18 writes for the same package (compared tag by tag on a
//! spec-built reference): the I18N table (`C` only), file lists in the compressed form
//! (`BASENAMES`/`DIRNAMES`/`DIRINDEXES`), sha256 file digests, dependency tags with their
//! sense flags, the automatic `rpmlib(...)` feature requirements, the scriptlet interpreters
//! as requirements, `config(NAME)` for packages with `%config` files, the `NAME` and
//! `NAME(ISA)` provides, payload format and digests. Numbers come from rpm's `rpmtag.h`
//! (`RPMTAG_*`, `RPMSENSE_*`, `RPMFILE_*`).

use anyhow::Result;

use super::header::{Header, Value};
use super::payload::{self, Payload};
use super::{Compression, DepOp, Dependency, RpmFile, RpmPackage, Scriptlet};

// Tags (rpmtag.h).
pub const I18NTABLE: u32 = 100;
const NAME: u32 = 1000;
const VERSION: u32 = 1001;
const RELEASE: u32 = 1002;
const EPOCH: u32 = 1003;
const SUMMARY: u32 = 1004;
const DESCRIPTION: u32 = 1005;
const BUILDTIME: u32 = 1006;
const BUILDHOST: u32 = 1007;
const SIZE: u32 = 1009;
const VENDOR: u32 = 1011;
const LICENSE: u32 = 1014;
const PACKAGER: u32 = 1015;
const GROUP: u32 = 1016;
const URL: u32 = 1020;
const OS: u32 = 1021;
const ARCH: u32 = 1022;
const FILESIZES: u32 = 1028;
const FILEMODES: u32 = 1030;
const FILERDEVS: u32 = 1033;
const FILEMTIMES: u32 = 1034;
const FILEDIGESTS: u32 = 1035;
const FILELINKTOS: u32 = 1036;
const FILEFLAGS: u32 = 1037;
const FILEUSERNAME: u32 = 1039;
const FILEGROUPNAME: u32 = 1040;
const SOURCERPM: u32 = 1044;
const FILEVERIFYFLAGS: u32 = 1045;
const CHANGELOGTIME: u32 = 1080;
const CHANGELOGNAME: u32 = 1081;
const CHANGELOGTEXT: u32 = 1082;
const FILEDEVICES: u32 = 1095;
const FILEINODES: u32 = 1096;
const FILELANGS: u32 = 1097;
const DIRINDEXES: u32 = 1116;
const BASENAMES: u32 = 1117;
const DIRNAMES: u32 = 1118;
const PAYLOADFORMAT: u32 = 1124;
const PAYLOADCOMPRESSOR: u32 = 1125;
const PAYLOADFLAGS: u32 = 1126;
const LONGFILESIZES: u32 = 5008;
const LONGSIZE: u32 = 5009;
const FILEDIGESTALGO: u32 = 5011;
const ENCODING: u32 = 5062;
const PAYLOADDIGEST: u32 = 5092;
const PAYLOADDIGESTALGO: u32 = 5093;
const PAYLOADDIGESTALT: u32 = 5097;

/// Dependency tags: name, flags, version.
const PROVIDES: [u32; 3] = [1047, 1112, 1113];
const REQUIRES: [u32; 3] = [1049, 1048, 1050];
const CONFLICTS: [u32; 3] = [1054, 1053, 1055];
const OBSOLETES: [u32; 3] = [1090, 1114, 1115];
const RECOMMENDS: [u32; 3] = [5046, 5048, 5047];
const SUGGESTS: [u32; 3] = [5049, 5051, 5050];
const SUPPLEMENTS: [u32; 3] = [5052, 5054, 5053];
const ENHANCES: [u32; 3] = [5055, 5057, 5056];

/// Scriptlets: body tag, program tag, the sense flag of their interpreter requirement.
type ScriptTags = (u32, u32, u32);
const PREIN: ScriptTags = (1023, 1085, SENSE_SCRIPT_PRE);
const POSTIN: ScriptTags = (1024, 1086, 1 << 10);
const PREUN: ScriptTags = (1025, 1087, 1 << 11);
const POSTUN: ScriptTags = (1026, 1088, 1 << 12);
const PRETRANS: ScriptTags = (1151, 1153, 1 << 7);
const POSTTRANS: ScriptTags = (1152, 1154, 1 << 5);

// Sense flags (rpmds.h).
const SENSE_LESS: u32 = 1 << 1;
const SENSE_GREATER: u32 = 1 << 2;
const SENSE_EQUAL: u32 = 1 << 3;
const SENSE_INTERP: u32 = 1 << 8;
const SENSE_SCRIPT_PRE: u32 = 1 << 9;
const SENSE_RPMLIB: u32 = 1 << 24;
const SENSE_CONFIG: u32 = 1 << 28;

// File flags (rpmfiles.h).
const FILE_CONFIG: u32 = 1;
const FILE_DOC: u32 = 1 << 1;
const FILE_MISSINGOK: u32 = 1 << 3;
const FILE_NOREPLACE: u32 = 1 << 4;
const FILE_GHOST: u32 = 1 << 6;
const FILE_LICENSE: u32 = 1 << 7;

/// `PGPHASHALGO_SHA256`, for file and payload digests.
const DIGEST_SHA256: u32 = 8;

/// One dependency as stored: name, sense flags, version.
type Dep = (String, u32, String);

/// `[EPOCH:]VERSION-RELEASE`.
pub fn evr(pkg: &RpmPackage) -> String {
    match pkg.epoch {
        Some(e) => format!("{e}:{}-{}", pkg.version, pkg.release),
        None => format!("{}-{}", pkg.version, pkg.release),
    }
}

/// The `%{_isa}` suffix rpm gives the architecture (`x86-64` for `x86_64`), if it has one.
fn isa(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "x86_64" => "x86-64",
        "aarch64" => "aarch-64",
        "ppc64le" | "ppc64" => "ppc-64",
        "i386" | "i486" | "i586" | "i686" => "x86-32",
        "armv7hl" | "armv7l" | "armv6hl" => "arm-32",
        "s390x" => "s390-64",
        "riscv64" => "riscv-64",
        _ => return None,
    })
}

/// A relation as stored; `pre` (`Requires(pre)`) counts only in requirements.
fn dep(d: &Dependency, is_requirement: bool) -> Dep {
    let (op, version) = match &d.op {
        Some((op, v)) => (
            match op {
                DepOp::Lt => SENSE_LESS,
                DepOp::Le => SENSE_LESS | SENSE_EQUAL,
                DepOp::Eq => SENSE_EQUAL,
                DepOp::Ge => SENSE_GREATER | SENSE_EQUAL,
                DepOp::Gt => SENSE_GREATER,
            },
            v.clone(),
        ),
        None => (0, String::new()),
    };
    let pre = if d.pre && is_requirement {
        SENSE_SCRIPT_PRE
    } else {
        0
    };
    (d.name.clone(), op | pre, version)
}

/// Puts a dependency list, sorted and without repeats (rpmbuild's order), unless empty.
fn put_deps(h: &mut Header, tags: [u32; 3], mut deps: Vec<Dep>) {
    deps.sort();
    deps.dedup();
    if deps.is_empty() {
        return;
    }
    let [name, flags, version] = tags;
    h.put(
        name,
        Value::StrArray(deps.iter().map(|d| d.0.clone()).collect()),
    );
    h.put(flags, Value::Int32(deps.iter().map(|d| d.1).collect()));
    h.put(
        version,
        Value::StrArray(deps.iter().map(|d| d.2.clone()).collect()),
    );
}

fn scriptlets(pkg: &RpmPackage) -> [(Option<&Scriptlet>, ScriptTags); 6] {
    let s = &pkg.scripts;
    [
        (s.pre.as_ref(), PREIN),
        (s.post.as_ref(), POSTIN),
        (s.preun.as_ref(), PREUN),
        (s.postun.as_ref(), POSTUN),
        (s.pretrans.as_ref(), PRETRANS),
        (s.posttrans.as_ref(), POSTTRANS),
    ]
}

/// The requirements: the package's, each scriptlet's interpreter, `config(NAME)`, and the
/// `rpmlib(...)` features a reader needs.
fn requires(pkg: &RpmPackage, payload: &Payload, has_config: bool) -> Vec<Dep> {
    let mut deps: Vec<Dep> = pkg.requires.iter().map(|d| dep(d, true)).collect();
    for (script, (_, _, sense)) in scriptlets(pkg) {
        if let Some(s) = script {
            // `<lua>` is rpm's embedded interpreter: nothing to require.
            if let Some(prog) = s.interpreter.split_whitespace().next() {
                if !prog.starts_with('<') {
                    deps.push((prog.to_string(), SENSE_INTERP | sense, String::new()));
                }
            }
        }
    }
    if has_config {
        let name = format!("config({})", pkg.name);
        deps.push((name, SENSE_CONFIG | SENSE_EQUAL, evr(pkg)));
    }
    let mut rpmlib = vec![
        ("CompressedFileNames", "3.0.4-1"),
        ("FileDigests", "4.6.0-1"),
        ("PayloadFilesHavePrefix", "4.0-1"),
    ];
    // Features of the versions and relations rpmbuild also declares.
    let relations = [
        &pkg.requires,
        &pkg.provides,
        &pkg.conflicts,
        &pkg.obsoletes,
        &pkg.recommends,
        &pkg.suggests,
        &pkg.enhances,
        &pkg.supplements,
    ];
    let all = || relations.iter().flat_map(|l| l.iter());
    let versions: Vec<&str> = [pkg.version.as_str(), pkg.release.as_str()]
        .into_iter()
        .chain(all().filter_map(|d| d.op.as_ref().map(|(_, v)| v.as_str())))
        .collect();
    if versions.iter().any(|v| v.contains('~')) {
        rpmlib.push(("TildeInVersions", "4.10.0-1"));
    }
    if versions.iter().any(|v| v.contains('^')) {
        rpmlib.push(("CaretInVersion", "4.15.0-1"));
    }
    if all().any(|d| d.name.starts_with('(')) {
        rpmlib.push(("RichDependencies", "4.12.0-1"));
    }
    if payload.large {
        rpmlib.push(("LargeFiles", "4.12.0-1"));
    }
    match pkg.compression {
        Compression::Zstd(_) => rpmlib.push(("PayloadIsZstd", "5.4.18-1")),
        Compression::Xz(_) => rpmlib.push(("PayloadIsXz", "5.2-1")),
        Compression::Gzip(_) | Compression::None => {}
    }
    for (feature, version) in rpmlib {
        deps.push((
            format!("rpmlib({feature})"),
            SENSE_RPMLIB | SENSE_LESS | SENSE_EQUAL,
            version.to_string(),
        ));
    }
    deps
}

/// The provides: the package's, `NAME = EVR`, `NAME(ISA) = EVR`, `config(NAME) = EVR`.
fn provides(pkg: &RpmPackage, has_config: bool) -> Vec<Dep> {
    let mut deps: Vec<Dep> = pkg.provides.iter().map(|d| dep(d, false)).collect();
    let evr = evr(pkg);
    deps.push((pkg.name.clone(), SENSE_EQUAL, evr.clone()));
    if let Some(isa) = isa(&pkg.arch) {
        deps.push((format!("{}({isa})", pkg.name), SENSE_EQUAL, evr.clone()));
    }
    if has_config {
        let name = format!("config({})", pkg.name);
        deps.push((name, SENSE_CONFIG | SENSE_EQUAL, evr));
    }
    deps
}

fn file_flags(f: &RpmFile) -> u32 {
    let fl = &f.flags;
    [
        (fl.config, FILE_CONFIG),
        (fl.config && fl.noreplace, FILE_NOREPLACE),
        (fl.doc, FILE_DOC),
        (fl.license, FILE_LICENSE),
        (fl.missingok, FILE_MISSINGOK),
        (fl.ghost, FILE_GHOST),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .fold(0, |acc, (_, bit)| acc | bit)
}

/// The file tags of the sorted `files` (absolute paths, their entries) and their facts.
fn put_files(h: &mut Header, files: &[(&str, &RpmFile)], payload: &Payload) {
    if files.is_empty() {
        return;
    }
    let facts = &payload.files;
    let mut dirnames: Vec<String> = Vec::new();
    let mut dirindexes = Vec::with_capacity(files.len());
    let mut basenames = Vec::with_capacity(files.len());
    for (path, _) in files {
        let cut = path.rfind('/').map_or(0, |i| i + 1);
        let (dir, base) = path.split_at(cut);
        // Files are sorted, so a directory's files are adjacent: only the last one can match.
        if dirnames.last().map(String::as_str) != Some(dir) {
            match dirnames.iter().position(|d| d == dir) {
                Some(i) => dirindexes.push(i as u32),
                None => {
                    dirnames.push(dir.to_string());
                    dirindexes.push((dirnames.len() - 1) as u32);
                }
            }
        } else {
            dirindexes.push((dirnames.len() - 1) as u32);
        }
        basenames.push(base.to_string());
    }
    let n = files.len();
    let strings = |f: &dyn Fn(usize) -> String| Value::StrArray((0..n).map(f).collect());
    if payload.large {
        h.put(
            LONGFILESIZES,
            Value::Int64(facts.iter().map(|f| f.size).collect()),
        );
    } else {
        h.put(
            FILESIZES,
            Value::Int32(facts.iter().map(|f| f.size as u32).collect()),
        );
    }
    h.put(
        FILEMODES,
        Value::Int16(facts.iter().map(|f| f.mode).collect()),
    );
    h.put(FILERDEVS, Value::Int16(vec![0; n]));
    h.put(
        FILEMTIMES,
        Value::Int32(facts.iter().map(|f| f.mtime).collect()),
    );
    h.put(FILEDIGESTS, strings(&|i| facts[i].digest.clone()));
    h.put(FILELINKTOS, strings(&|i| facts[i].linkto.clone()));
    h.put(
        FILEFLAGS,
        Value::Int32(files.iter().map(|(_, f)| file_flags(f)).collect()),
    );
    h.put(FILEUSERNAME, strings(&|i| files[i].1.user.clone()));
    h.put(FILEGROUPNAME, strings(&|i| files[i].1.group.clone()));
    h.put(FILEVERIFYFLAGS, Value::Int32(vec![u32::MAX; n]));
    h.put(FILEDEVICES, Value::Int32(vec![1; n]));
    h.put(FILEINODES, Value::Int32((1..=n as u32).collect()));
    h.put(FILELANGS, strings(&|_| String::new()));
    h.put(DIRINDEXES, Value::Int32(dirindexes));
    h.put(BASENAMES, Value::StrArray(basenames));
    h.put(DIRNAMES, Value::StrArray(dirnames));
    h.put_u32(FILEDIGESTALGO, DIGEST_SHA256);
}

fn put_optional(h: &mut Header, tag: u32, value: &Option<String>) {
    if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
        h.put_str(tag, v);
    }
}

/// The header of `pkg` whose sorted `files` were written as `payload`.
pub fn header(
    pkg: &RpmPackage,
    files: &[(&str, &RpmFile)],
    payload: &Payload,
    build_time: u32,
) -> Result<Header> {
    let mut h = Header::default();
    h.put(I18NTABLE, Value::StrArray(vec!["C".to_string()]));
    h.put_str(NAME, &pkg.name);
    h.put_str(VERSION, &pkg.version);
    h.put_str(RELEASE, &pkg.release);
    if let Some(e) = pkg.epoch {
        h.put_u32(EPOCH, e);
    }
    h.put(SUMMARY, Value::I18n(vec![pkg.summary.clone()]));
    h.put(DESCRIPTION, Value::I18n(vec![pkg.description.clone()]));
    h.put_u32(BUILDTIME, build_time);
    h.put_str(BUILDHOST, &pkg.build_host);
    let total: u64 = payload.files.iter().map(|f| f.size).sum();
    match u32::try_from(total) {
        Ok(t) => h.put_u32(SIZE, t),
        Err(_) => h.put(LONGSIZE, Value::Int64(vec![total])),
    }
    put_optional(&mut h, VENDOR, &pkg.vendor);
    h.put_str(LICENSE, &pkg.license);
    put_optional(&mut h, PACKAGER, &pkg.packager);
    let group = pkg
        .group
        .clone()
        .unwrap_or_else(|| "Unspecified".to_string());
    h.put(GROUP, Value::I18n(vec![group]));
    put_optional(&mut h, URL, &pkg.url);
    h.put_str(OS, "linux");
    h.put_str(ARCH, &pkg.arch);
    for (script, (body_tag, prog_tag, _)) in scriptlets(pkg) {
        if let Some(s) = script {
            h.put_str(body_tag, &s.body);
            let prog: Vec<String> = s
                .interpreter
                .split_whitespace()
                .map(str::to_string)
                .collect();
            match prog.len() {
                0 => h.put_str(prog_tag, "/bin/sh"),
                1 => h.put_str(prog_tag, &prog[0]),
                _ => h.put(prog_tag, Value::StrArray(prog)),
            }
        }
    }
    put_files(&mut h, files, payload);
    h.put_str(
        SOURCERPM,
        &format!("{}-{}-{}.src.rpm", pkg.name, pkg.version, pkg.release),
    );
    let has_config = files.iter().any(|(_, f)| f.flags.config);
    put_deps(&mut h, PROVIDES, provides(pkg, has_config));
    put_deps(&mut h, REQUIRES, requires(pkg, payload, has_config));
    let lists = [
        (CONFLICTS, &pkg.conflicts),
        (OBSOLETES, &pkg.obsoletes),
        (RECOMMENDS, &pkg.recommends),
        (SUGGESTS, &pkg.suggests),
        (SUPPLEMENTS, &pkg.supplements),
        (ENHANCES, &pkg.enhances),
    ];
    for (tags, list) in lists {
        put_deps(&mut h, tags, list.iter().map(|d| dep(d, false)).collect());
    }
    if !pkg.changelog.is_empty() {
        let c = &pkg.changelog;
        h.put(
            CHANGELOGTIME,
            Value::Int32(
                c.iter()
                    .map(|e| e.time.min(u64::from(u32::MAX)) as u32)
                    .collect(),
            ),
        );
        h.put(
            CHANGELOGNAME,
            Value::StrArray(c.iter().map(|e| e.author.clone()).collect()),
        );
        h.put(
            CHANGELOGTEXT,
            Value::StrArray(c.iter().map(|e| e.text.clone()).collect()),
        );
    }
    h.put_str(PAYLOADFORMAT, "cpio");
    let level = payload::level(pkg.compression);
    let compressor = match pkg.compression {
        Compression::Zstd(_) => Some("zstd"),
        Compression::Xz(_) => Some("xz"),
        Compression::Gzip(_) => Some("gzip"),
        // rpmbuild leaves the compressor out of an uncompressed package.
        Compression::None => None,
    };
    if let Some(c) = compressor {
        h.put_str(PAYLOADCOMPRESSOR, c);
        h.put_str(PAYLOADFLAGS, &level.to_string());
    } else {
        h.put_str(PAYLOADFLAGS, "");
    }
    h.put_str(ENCODING, "utf-8");
    h.put(
        PAYLOADDIGEST,
        Value::StrArray(vec![payload.compressed_sha256.clone()]),
    );
    h.put_u32(PAYLOADDIGESTALGO, DIGEST_SHA256);
    h.put(
        PAYLOADDIGESTALT,
        Value::StrArray(vec![payload.archive_sha256.clone()]),
    );
    Ok(h)
}
