#!/usr/bin/env bash
# Stand-in for actions/checkout v4: see ../README.md. The git commands are the ones the real
# action runs (src/git-source-provider.ts, ref-helper.ts): init, remote, fetch of the ref's
# refspec (or of every branch and tag with fetch-depth 0), checkout of the ref, detached for
# tags and commits.
set -euo pipefail

fail() {
    echo "::error::$1"
    exit 1
}

[ "$INPUT_SUBMODULES" = false ] || fail "the checkout stand-in does not fetch submodules"
[ "$INPUT_LFS" = false ] || fail "the checkout stand-in does not fetch LFS objects"
[[ $INPUT_FETCH_DEPTH =~ ^[0-9]+$ ]] || fail "fetch-depth must be a number: $INPUT_FETCH_DEPTH"

url="${GITHUB_SERVER_URL%/}/$INPUT_REPOSITORY"
dir="$GITHUB_WORKSPACE/$INPUT_PATH"
mkdir -p "$dir"
cd "$dir"
if [ -d .git ]; then
    git remote set-url origin "$url"
    if [ "$INPUT_CLEAN" = true ]; then
        git clean -ffdx
        git reset --hard HEAD >/dev/null 2>&1 || true
    fi
else
    git init -q
    git remote add origin "$url"
fi

ref=$INPUT_REF
commit=
if [ -z "$ref" ]; then
    ref=$GITHUB_REF
    commit=$GITHUB_SHA
fi
# a short name: a branch if the remote has one, else a tag
if [[ $ref != refs/* ]] && ! [[ $ref =~ ^[0-9a-f]{40}$ ]]; then
    if git ls-remote --exit-code --heads origin "refs/heads/$ref" >/dev/null; then
        ref="refs/heads/$ref"
    elif git ls-remote --exit-code --tags origin "refs/tags/$ref" >/dev/null; then
        ref="refs/tags/$ref"
    else
        fail "A branch or tag with the name '$ref' could not be found"
    fi
fi

args=(--prune --no-recurse-submodules)
if [ "$INPUT_FETCH_DEPTH" = 0 ]; then
    refspecs=('+refs/heads/*:refs/remotes/origin/*' '+refs/tags/*:refs/tags/*')
else
    args+=("--depth=$INPUT_FETCH_DEPTH")
    [ "$INPUT_FETCH_TAGS" = true ] || args+=(--no-tags)
    case $ref in
        refs/heads/*) refspecs=("+$ref:refs/remotes/origin/${ref#refs/heads/}") ;;
        refs/tags/*) refspecs=("+$ref:$ref") ;;
        refs/*) refspecs=("+$ref:refs/remotes/${ref#refs/}") ;;
        *) refspecs=("$ref") ;;
    esac
fi
git fetch -q "${args[@]}" origin "${refspecs[@]}"

case $ref in
    refs/heads/*)
        branch=${ref#refs/heads/}
        git checkout -q --force -B "$branch" "refs/remotes/origin/$branch"
        ;;
    refs/tags/*) git checkout -q --force "$ref" ;;
    refs/*) git checkout -q --force "refs/remotes/${ref#refs/}" ;;
    *) git checkout -q --force "$ref" ;;
esac
if [ -n "$commit" ] && [ "$(git rev-parse HEAD)" != "$commit" ]; then
    git checkout -q --force "$commit"
fi
echo "Checked out $ref ($(git rev-parse HEAD)) from $url into $dir"
