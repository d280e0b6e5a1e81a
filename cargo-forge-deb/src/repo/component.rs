//! One component of one suite (`dists/<suite>/<component>`) as the update found it — its
//! stanzas in index order, the architectures it indexes, the previous index texts — and as it
//! will be: stanzas put, retention applied, the architectures whose indexes must be rewritten.

use super::*;

/// The index order of stanzas: package, version (as dpkg orders them), architecture. The
/// version text breaks ties between equal versions spelled differently (`1.01`, `1.1`), so the
/// order is total and matches equality of the three strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) package: String,
    pub(super) version: String,
    pub(super) arch: String,
}

impl Key {
    pub(super) fn of(s: &RawStanza) -> Key {
        Key {
            package: s.package.clone(),
            version: s.version.clone(),
            arch: s.architecture.clone(),
        }
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        self.package
            .cmp(&other.package)
            .then_with(|| compare_versions(&self.version, &other.version))
            .then_with(|| self.version.cmp(&other.version))
            .then_with(|| self.arch.cmp(&other.arch))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The component as the update found it, then as it will be.
pub(super) struct Component {
    pub(super) stanzas: BTreeMap<Key, RawStanza>,
    /// Architectures with an index directory.
    pub(super) arches: BTreeSet<String>,
    /// The previous index text of each architecture (the compression cache's key).
    pub(super) previous: BTreeMap<String, String>,
    /// Architectures whose index must be written.
    pub(super) dirty: BTreeSet<String>,
    /// Whether every architecture must be written (an `all` stanza changed).
    pub(super) all_dirty: bool,
}

impl Component {
    pub(super) fn read(dir: &Path, comp_dir: &Path, shell: &Shell) -> Result<Component> {
        let mut c = Component {
            stanzas: BTreeMap::new(),
            arches: BTreeSet::new(),
            previous: BTreeMap::new(),
            dirty: BTreeSet::new(),
            all_dirty: false,
        };
        for sub in sorted_subdirs(comp_dir)? {
            let Some(arch) = sub.strip_prefix("binary-") else {
                continue;
            };
            let arch_dir = comp_dir.join(&sub);
            c.arches.insert(arch.to_string());
            if !index::complete(&arch_dir) {
                c.dirty.insert(arch.to_string());
            }
            let Some(text) = index::read_text(&arch_dir)? else {
                continue;
            };
            let what = format!("`{}`", arch_dir.join("Packages").display());
            for s in raw_stanzas(&text, &what)? {
                let key = Key::of(&s);
                if let Some(known) = c.stanzas.get(&key) {
                    if known.text != s.text {
                        // An `all` package listed differently in two indexes: write them all.
                        c.all_dirty = true;
                    }
                    continue;
                }
                if s.filename.is_empty() {
                    shell.warn(format!(
                        "dropping a stanza without `Filename` from `{}`",
                        arch_dir.display()
                    ));
                    c.mark(arch);
                    continue;
                }
                if !dir.join(&s.filename).is_file() {
                    shell.warn(format!(
                        "dropping {} {} from the index: its file `{}` is missing from the pool",
                        s.package, s.version, s.filename
                    ));
                    c.mark(&s.architecture);
                    continue;
                }
                c.stanzas.insert(key, s);
            }
            c.previous.insert(arch.to_string(), text);
        }
        Ok(c)
    }

    /// Marks the index of `arch` (every index for `all`) as changed.
    pub(super) fn mark(&mut self, arch: &str) {
        if arch == "all" {
            self.all_dirty = true;
        } else {
            self.dirty.insert(arch.to_string());
        }
    }

    /// Adds or replaces a stanza; marks its index when that changes the text.
    pub(super) fn put(&mut self, s: RawStanza) {
        let key = Key::of(&s);
        if self.stanzas.get(&key).map(|k| &k.text) != Some(&s.text) {
            self.mark(&s.architecture);
            self.stanzas.insert(key, s);
        }
    }

    /// Stanzas by `Filename` basename (the input cache's key).
    pub(super) fn by_basename(&self) -> HashMap<&str, &Key> {
        self.stanzas
            .iter()
            .map(|(k, s)| (s.filename.rsplit('/').next().unwrap_or(&s.filename), k))
            .collect()
    }

    /// Stanzas by `Filename`.
    pub(super) fn by_filename(&self) -> HashMap<&str, &RawStanza> {
        self.stanzas
            .values()
            .map(|s| (s.filename.as_str(), s))
            .collect()
    }

    /// Applies retention: the `keep` highest versions of each package and architecture stay.
    pub(super) fn retain(&mut self, keep: usize) -> Vec<RawStanza> {
        let mut versions: HashMap<(&str, &str), Vec<&Key>> = HashMap::new();
        for k in self.stanzas.keys() {
            versions
                .entry((k.package.as_str(), k.arch.as_str()))
                .or_default()
                .push(k);
        }
        let mut drop: Vec<Key> = Vec::new();
        for list in versions.values() {
            if list.len() > keep {
                // Keys are in index order: lowest versions first.
                drop.extend(list[..list.len() - keep].iter().map(|k| (*k).clone()));
            }
        }
        drop.sort();
        let mut removed = Vec::new();
        for k in drop {
            if let Some(s) = self.stanzas.remove(&k) {
                self.mark(&s.architecture);
                removed.push(s);
            }
        }
        removed
    }

    /// The architectures to index, and which of them to write.
    pub(super) fn plan_indexes(&mut self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut arches = self.arches.clone();
        for k in self.stanzas.keys() {
            if k.arch != "all" && !arches.contains(&k.arch) {
                arches.insert(k.arch.clone());
                self.dirty.insert(k.arch.clone());
            }
        }
        if arches.is_empty() {
            arches.insert("all".to_string());
            self.dirty.insert("all".to_string());
        }
        let dirty = if self.all_dirty {
            arches.clone()
        } else {
            arches.intersection(&self.dirty).cloned().collect()
        };
        (arches, dirty)
    }
}
