"""Stand-in for actions/upload-artifact v4: see ../README.md.

Follows the real action's rules (src/shared/search.ts and upload-artifact.ts): every line of
`path` is a glob (`**` included) or a plain path, lines starting with `!` exclude, directories
are taken with everything below them, only files are uploaded, and they are stored relative to
the search root: the least common ancestor of several search paths, the directory itself for one
directory, the parent for one file.
"""

import glob
import zlib
import os
import shutil
import sys
import tempfile

INVALID = set('":<>|*?\r\n\\/')


def fail(message):
    print(f"::error::{message}")
    sys.exit(1)


def is_hidden(rel):
    return any(part.startswith(".") and part not in (".", "..") for part in rel.split(os.sep))


def search_path(pattern):
    """The part of a pattern before its first wildcard segment (@actions/glob's search path)."""
    parts = pattern.split("/")
    fixed = []
    for part in parts:
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    joined = "/".join(fixed) or "/"
    return os.path.normpath(os.path.abspath(joined))


def expand(pattern, include_hidden):
    """Files a pattern matches: a directory means everything below it."""
    found = []
    for match in glob.glob(pattern, recursive=True, include_hidden=include_hidden):
        match = os.path.abspath(match)
        if os.path.isdir(match):
            for root, dirs, files in os.walk(match, followlinks=True):
                if not include_hidden:
                    dirs[:] = [d for d in dirs if not d.startswith(".")]
                    files = [f for f in files if not f.startswith(".")]
                found.extend(os.path.join(root, f) for f in files)
        elif os.path.isfile(match):
            found.append(match)
    return found


def main():
    name = os.environ.get("INPUT_NAME") or "artifact"
    lines = [l.strip() for l in os.environ.get("INPUT_PATH", "").splitlines() if l.strip()]
    mode = (os.environ.get("INPUT_IF_NO_FILES_FOUND") or "warn").strip()
    overwrite = os.environ.get("INPUT_OVERWRITE", "false").strip() == "true"
    hidden = os.environ.get("INPUT_INCLUDE_HIDDEN_FILES", "false").strip() == "true"
    store = os.environ.get("STANDIN_ARTIFACTS")
    if not store:
        fail("the upload-artifact stand-in needs STANDIN_ARTIFACTS (pass --env STANDIN_ARTIFACTS=DIR to act)")
    if mode not in ("warn", "error", "ignore"):
        fail(f"Unexpected if-no-files-found input: {mode}. Available options: warn, error, ignore")
    if any(c in INVALID for c in name):
        fail(f"The artifact name is not valid: {name}. Contains the following character: one of {sorted(INVALID)}")
    if not lines:
        fail("Input required and not supplied: path")

    include = [os.path.expanduser(l) for l in lines if not l.startswith("!")]
    exclude = [os.path.expanduser(l[1:]) for l in lines if l.startswith("!")]
    files = []
    for pattern in include:
        files.extend(expand(pattern, hidden))
    excluded = set()
    for pattern in exclude:
        excluded.update(expand(pattern, True))
    files = sorted({f for f in files if f not in excluded})
    if not files:
        message = f"No files were found with the provided path: {os.environ.get('INPUT_PATH', '')}. No artifacts will be uploaded."
        if mode == "error":
            fail(message)
        if mode == "warn":
            print(f"::warning::{message}")
        else:
            print(message)
        return

    roots = [search_path(p) for p in include]
    if len(roots) > 1:
        root = os.path.commonpath(roots)
    elif len(files) == 1 and roots[0] == files[0]:
        root = os.path.dirname(files[0])
    else:
        root = roots[0]
    rels = [os.path.relpath(f, root) for f in files]
    lower = {}
    for rel in rels:
        if rel.lower() in lower:
            fail(f"Cannot upload two files whose paths differ only in case: {lower[rel.lower()]} and {rel}")
        lower[rel.lower()] = rel

    os.makedirs(store, exist_ok=True)
    dest = os.path.join(store, name)
    tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=store)
    for src, rel in zip(files, rels):
        target = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(src, target)
    if overwrite and os.path.isdir(dest):
        shutil.rmtree(dest)
    try:
        os.rename(tmp, dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        fail(f"Failed to CreateArtifact: (409) Conflict: an artifact with this name already exists on the workflow run: {name}")
    size = sum(os.path.getsize(f) for f in files)
    print(f"Uploaded artifact '{name}': {len(files)} file(s), {size} bytes, from {root}")
    with open(os.environ["GITHUB_OUTPUT"], "a") as out:
        out.write(f"artifact-id={zlib.crc32(name.encode())}\n")


main()
