"""A download whose source lists in more than one page (1,000 keys each): the worker copies
what is certain while later pages arrive (tree_early.py), and the run is the one its preview
says, byte-exact: the last key of the first page (`b`) turns out to be a directory as well on
the second (`b/c`) and is skipped, not copied; excluded files are not copied; items are
reported in path order. Through the real CLI, the embedded worker and the local S3 server."""

from __future__ import annotations

from tests.helpers.cli import actions_of
from tests.helpers.s3 import S3Run

FIRST_PAGE = 1000  # ListObjectsV2's page

PLAN = """
version: 1
storages:
  out: {remote: local, root: ./out}
  bkt: {remote: bkt, root: ""}
copies:
  - {id: down, src: "bkt:t/", dst: "out:", exclude: ["*.tmp"]}
"""


def test_a_download_over_two_pages_copies_what_its_preview_says(s3_run: S3Run) -> None:
    client = s3_run.s3.client()
    bodies = {f"a/{i:04}": f"object {i}\n".encode() for i in range(FIRST_PAGE - 1)}
    bodies["b"] = b"the page's last key, and a directory on the next page\n"
    bodies.update({"b/c": b"below b\n", "c/keep.bin": b"kept\n", "c/skip.tmp": b"no\n"})
    bodies["zz"] = b"last\n"
    for key, body in bodies.items():
        client.put_object(Bucket=s3_run.bucket, Key=f"pre/t/{key}", Body=body)
    plan = s3_run.write_plan(PLAN)
    copied = {k: v for k, v in bodies.items() if k not in ("b", "c/skip.tmp")}

    code, preview = s3_run.preview(plan)
    assert code == 0, preview
    code, ran = s3_run.run(plan)

    assert code == 0, ran
    assert preview["totals"]["to_copy"] == len(copied)
    action = actions_of(ran)["down"]
    assert action["files_done"] == len(copied)
    assert action["files_filtered"] == 1
    assert [s["path"] for s in action["skipped"]] == ["b"]
    keys = [item["key"] for item in action["items"]]
    assert keys == sorted(copied)
    out = s3_run.tmp_path / "out"
    on_disk = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert on_disk == copied
