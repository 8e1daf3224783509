"""Validates many OpenAPI documents with openapi-spec-validator, on every core.

Usage: python3 validate.py FILE...   (or the file names one per line on stdin, read as they
come, so a producer can stream them while it writes the documents)

Prints `backend <name>` (the validator's JSON Schema backend: `jsonschema-rs` when installed, several
times faster, else `jsonschema`), then one line per document as soon as it is checked, `ok <file>`
or `invalid <file>: <first error>` (openapi-spec-validator's, or a `$ref` to nothing anywhere in
the document), and exits 0 whatever it finds: the caller (`cargo xtask corpus`) counts and
reports.
One interpreter with a worker per core instead of one process per document: the validator is
slow on large documents (googleapis' compute v1 takes seconds), so the cores are what matters.
"""

import json
import multiprocessing
import os
import sys


def dangling_refs(document) -> list:
    """Every local `$ref` whose target does not exist. The validator resolves the references it
    walks through from the operations, not those inside unreferenced or nested component schemas,
    so this checks all of them."""
    found = []
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                target = document
                for part in ref[2:].split("/"):
                    part = part.replace("~1", "/").replace("~0", "~")
                    if not isinstance(target, dict) or part not in target:
                        found.append(ref)
                        break
                    target = target[part]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def check(name: str) -> str:
    """The result line for one document."""
    # Imported in the worker: the parent only hands out file names.
    from openapi_spec_validator import validate

    try:
        with open(name, encoding="utf-8") as handle:
            document = json.load(handle)
        validate(document)
        dangling = dangling_refs(document)
        if dangling:
            raise ValueError(f"dangling $ref: {', '.join(sorted(set(dangling)))}")
    except Exception as error:  # any failure is this document's, reported, not fatal
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        # Errors quote the offending value, which may be the whole document.
        return f"invalid {name}: {text[:300]}"
    return f"ok {name}"


def names():
    """The file names from the command line, else from stdin as they arrive."""
    if len(sys.argv) > 1:
        yield from sys.argv[1:]
        return
    for line in sys.stdin:
        if line.strip():
            yield line.strip()


def main() -> None:
    from openapi_spec_validator.schemas import get_validator_backend

    # jsonschema-rs (when installed) makes the validator several times faster on large documents.
    print(f"backend {get_validator_backend()}", flush=True)
    workers = max(1, os.cpu_count() or 1)
    with multiprocessing.Pool(workers) as pool:
        for line in pool.imap_unordered(check, names()):
            print(line, flush=True)


if __name__ == "__main__":
    main()
