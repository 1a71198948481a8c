"""Novelty: an exact structural hash, a canonical hash, and MinHash-Jaccard similarity.

All work on the normalised AST (comments, formatting and docstrings do not count).
A duplicate is the same program up to layout, comments and docstrings (structural hash)
or, beyond that, up to the names of what the file binds itself, import aliases and import
order (canonical hash): a copy that only renames is rejected, while any changed number,
string, call or statement, however small against a 400-line model, is a real candidate. MinHash over
statement 3-grams (datasketch LSH) still measures similarity: one changed statement in
a 30-statement model gives about 0.8, in a 400-line model about 0.99, so a Jaccard
threshold alone cannot tell a one-layer change of a large model from a copy.
"""

from __future__ import annotations

import ast
import hashlib

import numpy as np
from datasketch import MinHash, MinHashLSH

SHINGLE = 3
SCHEME = "affine32"  # datasketch >= 2 wants the scheme named when signatures are reloaded


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def normalised_ast(code: str) -> ast.AST:
    """Parse `code` and drop what does not change behaviour (docstrings; comments are gone)."""
    return _strip_docstrings(ast.parse(code))


def structural_hash(code: str) -> str:
    """Hash of the normalised AST: equal for copies that differ only in layout or comments."""
    dump = ast.dump(normalised_ast(code), include_attributes=False)
    return hashlib.sha256(dump.encode()).hexdigest()[:32]


def _imported(tree: ast.AST) -> dict[str, str]:
    """Names bound by imports -> what they import (`from torch import nn as N`: N -> torch.nn)."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    found[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    found[top] = top
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            for a in node.names:
                found[a.asname or a.name] = f"{base}.{a.name}"
    return found


def _bound(tree: ast.AST) -> set[str]:
    """Names the file binds itself (assignments, loop targets, arguments, `except ... as`)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.add(node.id)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
    return found


class _Canonical(ast.NodeTransformer):
    """Names the file binds become their order of first appearance; an imported name becomes
    what it imports; anything else (builtins) and every constant stays as it is: a string
    can change behaviour (`mode="bilinear"`, `prm["dropout"]`, a bare file's recipe)."""

    def __init__(self, tree: ast.AST) -> None:
        self.names: dict[str, str] = {}
        self.imported = _imported(tree)
        self.bound = _bound(tree) - set(self.imported)

    def _id(self, name: str) -> str:
        return self.names.setdefault(name, f"_{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.imported:
            return ast.Name("import:" + self.imported[node.id], node.ctx)
        return ast.Name(self._id(node.id) if node.id in self.bound else node.id, node.ctx)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.arg(self._id(node.arg), None)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        self.generic_visit(node)
        node.name = self._id(node.name) if node.name else None
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        value = self.visit(node.value)
        is_self = isinstance(node.value, ast.Name) and node.value.id == "self"
        return ast.Attribute(value, self._id("self." + node.attr) if is_self else node.attr,
                             node.ctx)  # fmt: skip


def canonical_hash(code: str) -> str:
    """Hash equal for copies that differ only in layout, comments, docstrings, the names of
    what the file binds itself (locals, arguments, ``self.`` attributes), import aliases or
    import order. Constants (strings included), builtins and what is imported count."""
    tree = normalised_ast(code)
    body = tree.body  # type: ignore[attr-defined]
    rest = [s for s in body if not isinstance(s, (ast.Import, ast.ImportFrom))]
    canonical = _Canonical(tree)
    targets = sorted(set(canonical.imported.values()))
    imports = ast.Expr(ast.Constant(repr(targets)))
    dump = ast.dump(canonical.visit(ast.Module(body=[imports, *rest], type_ignores=[])),
                    include_attributes=False)
    return hashlib.sha256(dump.encode()).hexdigest()[:32]


def _statement_tokens(tree: ast.AST) -> list[str]:
    """One token per statement, in source order; compound statements contribute their header."""
    tokens: list[str] = []

    def visit(stmts: list[ast.stmt]) -> None:
        for s in stmts:
            if isinstance(s, (ast.Import, ast.ImportFrom)):
                continue
            bodies = [f for f in ("body", "orelse", "finalbody", "handlers") if hasattr(s, f)]
            if bodies:
                header = {
                    k: v for k, v in ast.iter_fields(s) if k not in bodies and k != "type_comment"
                }
                tokens.append(type(s).__name__ + repr({k: _dump(v) for k, v in header.items()}))
                for f in bodies:
                    children = getattr(s, f)
                    if f == "handlers":
                        for h in children:
                            tokens.append("except " + _dump(h.type))
                            visit(h.body)
                    else:
                        visit(children)
            else:
                tokens.append(ast.dump(s, include_attributes=False))

    visit(tree.body)  # type: ignore[attr-defined]
    return tokens


def _dump(v: object) -> str:
    if isinstance(v, ast.AST):
        return ast.dump(v, include_attributes=False)
    if isinstance(v, list):
        return "[" + ",".join(_dump(x) for x in v) + "]"
    return repr(v)


def shingles(code: str) -> set[str]:
    """The statement 3-grams MinHash is computed over."""
    toks = _statement_tokens(normalised_ast(code))
    if len(toks) < SHINGLE:
        return {"\n".join(toks)}
    return {"\n".join(toks[i : i + SHINGLE]) for i in range(len(toks) - SHINGLE + 1)}


def minhash(code: str, num_perm: int = 128) -> MinHash:
    """MinHash signature of a candidate's statement shingles."""
    m = MinHash(num_perm=num_perm, seed=1, scheme=SCHEME)
    m.update_batch([s.encode() for s in shingles(code)])
    return m


def to_bytes(m: MinHash) -> bytes:
    return np.asarray(m.hashvalues, dtype=np.uint64).tobytes()


def from_bytes(blob: bytes, num_perm: int) -> MinHash:
    values = np.frombuffer(blob, dtype=np.uint64)
    return MinHash(num_perm=num_perm, seed=1, hashvalues=values, scheme=SCHEME)


class NoveltyIndex:
    """Near-duplicate search over the candidates seen so far (rebuilt from the archive)."""

    def __init__(self, threshold: float = 0.9, num_perm: int = 128) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.sigs: dict[int, MinHash] = {}
        self.canonical: dict[str, int] = {}  # canonical hash -> first candidate with it

    def add(self, cid: int, m: MinHash, code: str | None = None) -> None:
        if cid not in self.sigs:
            self.lsh.insert(str(cid), m)
            self.sigs[cid] = m
            if code is not None:
                self.canonical.setdefault(canonical_hash(code), cid)

    def same_program(self, code: str) -> int | None:
        """The indexed candidate that is ``code`` up to layout, own names and import aliases."""
        return self.canonical.get(canonical_hash(code))

    def nearest_duplicate(self, m: MinHash) -> tuple[int, float] | None:
        """The most similar indexed candidate at or above the threshold, with its similarity."""
        best: tuple[int, float] | None = None
        for key in self.lsh.query(m):
            cid = int(key)
            sim = m.jaccard(self.sigs[cid])
            if sim >= self.threshold and (best is None or sim > best[1]):
                best = (cid, sim)
        return best
