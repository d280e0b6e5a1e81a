"""Stand-in for actions/download-artifact v4: see ../README.md.

As the real action (src/download-artifact.ts): with `name`, that artifact's files go into `path`
and a missing artifact is an error; without it, every artifact whose name matches `pattern` goes
into `path/<artifact>/`, or straight into `path` with `merge-multiple` (later artifacts overwrite
files of the same name), and matching none is not an error. The files get default modes, as the
artifact service keeps no permissions.
"""

import fnmatch
import os
import shutil
import sys


def fail(message):
    print(f"::error::{message}")
    sys.exit(1)


def copy_tree(src, dest):
    count = 0
    for root, _dirs, files in os.walk(src):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), src)
            target = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.lexists(target):
                os.remove(target)
            # copyfile, not copy: no permission bits travel with an artifact
            shutil.copyfile(os.path.join(root, f), target)
            count += 1
    return count


def main():
    name = os.environ.get("INPUT_NAME", "").strip()
    pattern = os.environ.get("INPUT_PATTERN", "").strip()
    merge = os.environ.get("INPUT_MERGE_MULTIPLE", "false").strip() == "true"
    workspace = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    path = os.path.expanduser(os.environ.get("INPUT_PATH", "").strip()) or workspace
    path = os.path.abspath(path)
    store = os.environ.get("STANDIN_ARTIFACTS")
    if not store:
        fail("the download-artifact stand-in needs STANDIN_ARTIFACTS (pass --env STANDIN_ARTIFACTS=DIR to act)")
    os.makedirs(path, exist_ok=True)
    available = sorted(
        d for d in (os.listdir(store) if os.path.isdir(store) else [])
        if not d.startswith(".") and os.path.isdir(os.path.join(store, d))
    )
    if name:
        if pattern:
            print("::warning::both `name` and `pattern` are given: `pattern` is ignored")
        if name not in available:
            fail(f"Unable to download artifact(s): Artifact not found for name: {name}")
        n = copy_tree(os.path.join(store, name), path)
        print(f"Artifact '{name}' ({n} file(s)) downloaded to {path}")
    else:
        chosen = [a for a in available if not pattern or fnmatch.fnmatchcase(a, pattern)]
        for a in chosen:
            n = copy_tree(os.path.join(store, a), path if merge else os.path.join(path, a))
            print(f"Artifact '{a}' ({n} file(s)) downloaded")
        print(f"Total of {len(chosen)} artifact(s) downloaded to {path}")
    with open(os.environ["GITHUB_OUTPUT"], "a") as out:
        out.write(f"download-path={path}\n")


main()
