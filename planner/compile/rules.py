"""The path rules: which inferred edges the accesses of a plan call for, each labelled with its
rule (docs/plan-reference.md, "Order: the DAG").

On resolved `(remote, path)` keys, with P a path:
  directory-before-write  a directory P comes before every write at or below P
  write-before-read       a write of P comes before every read (and check) of P, below or above P
  access-before-removal   every read at or below P comes before a removal of P
  clean-before-write      a removal of P comes before every write at or below P
  write-before-prune      a write of P comes before every removal strictly below P
  removal-before-absent   a removal of P comes before every `absent:` check at or below P
  access-before-move      every read/write at or below P comes before a move whose src is P
  move-before-absent      a move whose src is P comes before every `absent:` check at or below P
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator

from planner.compile.accesses import Access
from planner.compile.pathtrie import PathTrie, TrieNode

NEEDS = "needs"
DIRECTORY_BEFORE_WRITE = "directory-before-write"
WRITE_BEFORE_READ = "write-before-read"
ACCESS_BEFORE_REMOVAL = "access-before-removal"
CLEAN_BEFORE_WRITE = "clean-before-write"
WRITE_BEFORE_PRUNE = "write-before-prune"
REMOVAL_BEFORE_ABSENT = "removal-before-absent"
ACCESS_BEFORE_MOVE = "access-before-move"
MOVE_BEFORE_ABSENT = "move-before-absent"
RULES = (
    NEEDS,
    DIRECTORY_BEFORE_WRITE,
    WRITE_BEFORE_READ,
    ACCESS_BEFORE_REMOVAL,
    CLEAN_BEFORE_WRITE,
    WRITE_BEFORE_PRUNE,
    REMOVAL_BEFORE_ABSENT,
    ACCESS_BEFORE_MOVE,
    MOVE_BEFORE_ABSENT,
)

_WRITES = ("write", "mkdir")
_READS = ("read", "absent")
_ALL = ("read", "absent", "write", "mkdir")

# An inferred edge: the access that must come first, the one after it, and the rule.
Edge = tuple[Access, Access, str]


def _in(nodes: Iterable[TrieNode], kinds: tuple[str, ...]) -> Iterator[Access]:
    for node in nodes:
        for access in node.accesses:
            if access.kind in kinds:
                yield access


def inferred_edges(trie: PathTrie, accesses: list[Access]) -> Iterator[Edge]:
    """Every edge the path rules infer between `accesses` (all of them added to `trie`); an
    action may meet itself (the caller drops such edges)."""
    for access in accesses:
        if access.kind == "mkdir":
            node = trie.get(access.key)
            for other in _in([node], ("write",)):
                yield access, other, DIRECTORY_BEFORE_WRITE
            for child in node.children.values():
                for other in _in(child.walk(), _WRITES):
                    yield access, other, DIRECTORY_BEFORE_WRITE
        if access.kind in _WRITES:
            related = (*trie.ancestors(access.key), *trie.subtree(access.key))
            for other in _in(related, _READS):
                yield access, other, WRITE_BEFORE_READ
        if access.kind == "remove":
            yield from _removal_edges(trie, access)
        if access.kind == "move-src":
            for other in _in(trie.subtree(access.key), _ALL):
                if other.kind == "absent":
                    yield access, other, MOVE_BEFORE_ABSENT
                else:
                    yield other, access, ACCESS_BEFORE_MOVE


def _removal_edges(trie: PathTrie, removal: Access) -> Iterator[Edge]:
    node = trie.get(removal.key)
    if removal.pattern is None:
        targets: Iterable[TrieNode] = node.walk()
        above: Iterable[TrieNode] = trie.ancestors(removal.key)
    else:
        pattern = removal.pattern
        targets = (
            n
            for name, child in node.children.items()
            if fnmatch.fnmatchcase(name, pattern)
            for n in child.walk()
        )
        # a glob removal lies strictly below its parent, so a write of the parent prunes too
        above = (*trie.ancestors(removal.key), node)
    for other in _in(targets, _ALL):
        if other.kind == "read":
            yield other, removal, ACCESS_BEFORE_REMOVAL
        elif other.kind == "absent":
            yield removal, other, REMOVAL_BEFORE_ABSENT
        else:
            yield removal, other, CLEAN_BEFORE_WRITE
    for other in _in(above, _WRITES):
        yield other, removal, WRITE_BEFORE_PRUNE
