#!/usr/bin/env bash
# Copy the collection (tracked and untracked-but-not-ignored files) to
# DEST/ansible_collections/phonefleet/grandstream: ansible-test only runs from a
# path ending in ansible_collections/NAMESPACE/NAME.
set -euo pipefail
dest="$1/ansible_collections/phonefleet/grandstream"
rm -rf "$dest"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$dest"
# A repository of its own: otherwise ansible-test finds the enclosing checkout, whose
# .gitignore hides .build/, and silently tests nothing.
git -C "$dest" init -q
echo "$dest"
