#!/usr/bin/env python3
"""Run the ETSI NGSI-LD conformance test suite (Robot Framework) against a Cetate hub.

Standard library only, so it runs with any python3 >= 3.11. The suite itself (and its
Python requirements, Robot Framework included) lives outside this repository; see
docs/conformance.md for how to get it.

The script never edits the suite: it writes a JSON variable file into the output
directory and passes it to robot with ``--variablefile`` (command-line variable files
take precedence over the suite's own ``resources/variables.py``).

Selection:

* ``--groups``: folders under ``TP/NGSI-LD`` (default: CommonBehaviours and three
  ContextInformation sub-trees).
* ``--max-version``: test cases carry a ``since_vX.Y.Z`` tag giving the spec version
  that introduced them (untagged ones date from the original v1.3.1 suite). Every
  ``since_v`` tag newer than the maximum is passed to robot as ``--exclude``.
* MQTT notification tests (tag ``sub-mqtt-notification``, folder
  ``SubscriptionNotificationBehaviour/MQTT``) are excluded unless ``--with-mqtt``.
* The fork's untagged post-v1.6 extension TPs (``UNTAGGED_LATER_PATHS``) are skipped by
  path unless ``--keep-untagged-extensions``; ``--skip`` leaves out more paths.

Robot runs from the suite root (its files import ``${EXECDIR}/resources/...``); the
suite's notification receiver and mock servers listen on ``--listen-host`` (loopback).

Results are read from robot's ``output.xml`` and printed per group (passed, failed,
total, pass %); ``--markdown FILE`` also writes them as a markdown table.

Exit status: 0 when robot ran and its output was parsed, whatever the pass rate;
2 (with a one-line error) when the suite, robot or robot's output is missing, or a port
the suite needs is taken.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_GROUPS: tuple[str, ...] = (
    "CommonBehaviours",
    "ContextInformation/Provision",
    "ContextInformation/Consumption",
    "ContextInformation/Subscription",
)
DEFAULT_MAX_VERSION = "1.6"
TP_ROOT = Path("TP") / "NGSI-LD"
MQTT_TAG = "sub-mqtt-notification"
# Extension TPs added by the fork whose test cases carry no since_v tag although they
# test behaviour specified after v1.6: the 4.22 transient-entity TPs (their
# Documentation cites CIM 009 V1.9.1) and 015_04, whose since_v1.9.1 tag sits on a
# keyword, where robot does not apply it to the tests. Paths are relative to
# TP/NGSI-LD; they are left out unless --keep-untagged-extensions.
UNTAGGED_LATER_PATHS: tuple[str, ...] = (
    "ContextInformation/Provision/TransientEntities",
    "ContextInformation/Provision/TemporalEntityAttributes/DeleteAttribute/015_04.robot",
)
SINCE_TAG_RE = re.compile(r"\bsince_v(\d+(?:\.\d+)*)\b")
# The suite's test-suite @context, as written in its data files. The hub resolves it
# (and the ETSI core context) from a local directory, so no internet is needed.
DEFAULT_TEST_SUITE_CONTEXT = (
    "https://raw.githubusercontent.com/marek-mraz/ngsi-ld-test-suite/main/"
    "resources/jsonld-contexts/ngsi-ld-test-suite-compound.jsonld"
)
DEFAULT_CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"


class ConformanceError(Exception):
    """A problem that stops the run before or after robot (reported on one line)."""


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed

    @property
    def percent(self) -> float:
        return 100.0 * self.passed / self.total if self.total else 0.0

    def add(self, status: str) -> None:
        if status == "PASS":
            self.passed += 1
        elif status == "SKIP":
            self.skipped += 1
        else:
            self.failed += 1


@dataclass
class Results:
    groups: dict[str, Counts] = field(default_factory=dict)
    folders: dict[str, Counts] = field(default_factory=dict)
    failed_tests: list[str] = field(default_factory=list)

    @property
    def overall(self) -> Counts:
        total = Counts()
        for counts in self.groups.values():
            total.passed += counts.passed
            total.failed += counts.failed
            total.skipped += counts.skipped
        return total


# --------------------------------------------------------------------------- selection


def parse_version(text: str) -> tuple[int, ...]:
    if not re.fullmatch(r"\d+(?:\.\d+)*", text):
        raise ConformanceError(f"invalid version {text!r} (expected e.g. 1.6 or 1.6.1)")
    return tuple(int(part) for part in text.split("."))


def since_tags(paths: Iterable[Path]) -> set[str]:
    """All ``since_vX.Y.Z`` tags used by the .robot files under ``paths``."""
    tags: set[str] = set()
    for root in paths:
        for robot_file in sorted(root.rglob("*.robot")):
            text = robot_file.read_text(encoding="utf-8", errors="replace")
            tags.update(f"since_v{m.group(1)}" for m in SINCE_TAG_RE.finditer(text))
    return tags


def tags_newer_than(tags: Iterable[str], max_version: tuple[int, ...]) -> list[str]:
    """The since-tags whose version (truncated to the precision of max) exceeds it."""
    newer: list[str] = []
    for tag in tags:
        version = parse_version(tag.removeprefix("since_v"))
        if version[: len(max_version)] > max_version:
            newer.append(tag)
    return sorted(newer, key=lambda t: parse_version(t.removeprefix("since_v")))


# --------------------------------------------------------------------------- robot run


def resolve_robot(robot: str) -> str:
    candidate = Path(robot)
    if candidate.parent != Path() or robot.startswith("."):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate.resolve())
        raise ConformanceError(f"robot executable not found: {robot}")
    found = shutil.which(robot)
    if found is None:
        raise ConformanceError(f"robot executable not found on PATH: {robot}")
    return found


def check_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConformanceError(f"{what} port {host}:{port} is not free: {exc}") from exc


def api_base(url: str) -> str:
    """Accept http://host:port or http://host:port/ngsi-ld/v1; return the latter."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConformanceError(f"invalid --url {url!r} (expected http://127.0.0.1:PORT)")
    base = url.rstrip("/")
    if not base.endswith("/ngsi-ld/v1"):
        base += "/ngsi-ld/v1"
    return base


def suite_variables(args: argparse.Namespace) -> dict[str, object]:
    base = api_base(args.url)
    host = args.listen_host
    return {
        "url": base,
        "temporal_api_url": base,
        "ngsild_test_suite_context": args.test_suite_context,
        "core_context": args.core_context,
        # The suite's notification receiver (HttpCtrl) listens here; subscriptions
        # are created with endpoint http://HOST:PORT/notify.
        "notification_server_host": host,
        "notification_server_port": args.notify_port,
        # Mock context source (distributed operations) and @context server (serves
        # /api/v1/context.jsonld for LdContext tests): also on loopback.
        "context_source_host": host,
        "context_source_port": args.context_source_port,
        "context_server_host": host,
        "context_server_port": args.context_server_port,
        # MQTT tests are excluded by default; keep the values on loopback anyway.
        "mqtt_broker_host": host,
        "mqtt_broker_non_default_port": args.mqtt_port,
        "delete_temporal_on_core_delete": args.delete_temporal,
    }


def data_sources(directory: Path, skipped: Sequence[Path]) -> list[Path]:
    """``directory`` as robot data sources, leaving out the ``skipped`` paths.

    Robot can exclude by tag but not by path, so a directory that contains a skipped
    path is replaced by its children (recursively) minus the skipped ones.
    """
    if directory in skipped:
        return []
    if not any(directory in path.parents for path in skipped):
        return [directory]
    sources: list[Path] = []
    for child in sorted(directory.iterdir()):
        if child.is_dir():
            sources += data_sources(child, skipped)
        elif child.suffix == ".robot" and child.name != "__init__.robot" and child not in skipped:
            sources.append(child)
    return sources


def build_command(
    robot: str,
    output: Path,
    variable_file: Path,
    sources: Sequence[Path],
    excludes: Sequence[str],
    dryrun: bool,
    extra: Sequence[str],
) -> list[str]:
    cmd = [
        robot,
        "--outputdir",
        str(output),
        "--variablefile",
        str(variable_file),
        "--name",
        "NGSI-LD",
        "--consolewidth",
        "120",
        "--loglevel",
        "TRACE:INFO",
    ]
    for tag in excludes:
        cmd += ["--exclude", tag]
    if dryrun:
        cmd.append("--dryrun")
    cmd += list(extra)
    cmd += [str(source) for source in sources]
    return cmd


# --------------------------------------------------------------------------- parsing


def group_of(source: Path, suite: Path, groups: Sequence[str]) -> tuple[str, str] | None:
    """(group, folder relative to TP/NGSI-LD) for a suite source file, if in scope."""
    try:
        rel = source.resolve().relative_to((suite / TP_ROOT).resolve())
    except ValueError:
        return None
    rel_posix = rel.as_posix()
    folder = rel.parent.as_posix()
    best: str | None = None
    for group in groups:
        g = group.strip("/")
        if (rel_posix == g or rel_posix.startswith(g + "/")) and (
            best is None or len(g) > len(best)
        ):
            best = g
    return (best, folder) if best is not None else None


def parse_output(output_xml: Path, suite: Path, groups: Sequence[str]) -> Results:
    try:
        tree = ET.parse(output_xml)
    except (OSError, ET.ParseError) as exc:
        raise ConformanceError(f"cannot read robot output {output_xml}: {exc}") from exc
    results = Results(groups={g.strip("/"): Counts() for g in groups})

    def walk(element: ET.Element, source: str | None) -> None:
        for child in element:
            if child.tag == "suite":
                walk(child, child.get("source") or source)
            elif child.tag == "test" and source is not None:
                status_el = child.find("status")
                status = status_el.get("status", "FAIL") if status_el is not None else "FAIL"
                located = group_of(Path(source), suite, groups)
                if located is None:
                    continue
                group, folder = located
                results.groups[group].add(status)
                results.folders.setdefault(folder, Counts()).add(status)
                if status == "FAIL":
                    results.failed_tests.append(f"{folder}: {child.get('name', '?')}")

    walk(tree.getroot(), None)
    return results


# --------------------------------------------------------------------------- reporting


def table_rows(results: Results, by_folder: bool) -> list[tuple[str, Counts]]:
    rows: list[tuple[str, Counts]] = []
    for group, counts in results.groups.items():
        rows.append((group, counts))
        if by_folder:
            for folder in sorted(results.folders):
                if folder == group or folder.startswith(group + "/"):
                    rows.append(("  " + folder.removeprefix(group + "/"), results.folders[folder]))
    rows.append(("Overall", results.overall))
    return rows


def format_selected(rows: Sequence[tuple[str, Counts]]) -> str:
    """Dry-run table: how many tests each group selects (robot sent no request)."""
    width = max(len("Group"), *(len(name) for name, _ in rows))
    header = f"{'Group':<{width}}  {'Tests':>6}  {'Dry-run errors':>14}"
    lines = [header, "-" * len(header)]
    for name, c in rows:
        if name == "Overall":
            lines.append("-" * len(header))
        lines.append(f"{name:<{width}}  {c.total:>6}  {c.failed:>14}")
    return "\n".join(lines)


def format_text(rows: Sequence[tuple[str, Counts]]) -> str:
    width = max(len("Group"), *(len(name) for name, _ in rows))
    header = f"{'Group':<{width}}  {'Passed':>6}  {'Failed':>6}  {'Total':>6}  {'Pass %':>6}"
    lines = [header, "-" * len(header)]
    for name, c in rows:
        if name == "Overall":
            lines.append("-" * len(header))
        lines.append(
            f"{name:<{width}}  {c.passed:>6}  {c.failed:>6}  {c.total:>6}  {c.percent:>5.1f}%"
        )
    return "\n".join(lines)


def format_markdown(rows: Sequence[tuple[str, Counts]], title: str) -> str:
    lines = [
        f"<!-- {title} -->",
        "| Group | Passed | Failed | Total | Pass % |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, c in rows:
        label = f"**{name}**" if name == "Overall" else name.replace("  ", "&nbsp;&nbsp;")
        lines.append(f"| {label} | {c.passed} | {c.failed} | {c.total} | {c.percent:.1f} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the ETSI NGSI-LD Robot Framework suite against a Cetate hub.",
        epilog="Arguments after -- are passed to robot unchanged (e.g. -- --test '*001_01*').",
    )
    parser.add_argument("--suite", type=Path, required=True, help="checked-out ngsi-ld-test-suite")
    parser.add_argument("--url", required=True, help="hub base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--robot", default="robot", help="robot executable (default: robot)")
    parser.add_argument("--output", type=Path, default=Path("conformance-results"))
    parser.add_argument(
        "--groups",
        nargs="+",
        default=list(DEFAULT_GROUPS),
        help="folders under TP/NGSI-LD (default: %(default)s)",
    )
    parser.add_argument("--max-version", default=DEFAULT_MAX_VERSION, help="e.g. 1.6")
    parser.add_argument("--with-mqtt", action="store_true", help="keep MQTT notification tests")
    parser.add_argument(
        "--keep-untagged-extensions",
        action="store_true",
        help="keep the fork's untagged post-v1.6 extension TPs: " + ", ".join(UNTAGGED_LATER_PATHS),
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="PATH",
        help="folder or .robot file under TP/NGSI-LD to leave out; repeatable",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="TAG",
        help="extra robot tag (pattern) to exclude; repeatable",
    )
    parser.add_argument("--markdown", type=Path, help="also write the table as markdown here")
    parser.add_argument("--by-folder", action="store_true", help="add one row per sub-folder")
    parser.add_argument("--list-failed", action="store_true", help="print the failed tests")
    parser.add_argument("--dryrun", action="store_true", help="robot --dryrun (count tests only)")
    parser.add_argument("--listen-host", default="127.0.0.1", help="host of the suite's servers")
    parser.add_argument("--notify-port", type=int, default=18085)
    parser.add_argument("--context-source-port", type=int, default=18086)
    parser.add_argument("--context-server-port", type=int, default=18087)
    parser.add_argument("--mqtt-port", type=int, default=18083)
    parser.add_argument("--test-suite-context", default=DEFAULT_TEST_SUITE_CONTEXT)
    parser.add_argument("--core-context", default=DEFAULT_CORE_CONTEXT)
    parser.add_argument(
        "--no-delete-temporal",
        dest="delete_temporal",
        action="store_false",
        help="do not DELETE /temporal/entities/{id} after each entity delete",
    )
    parser.add_argument(
        "--console",
        action="store_true",
        help="show robot's console output (default: written to OUTPUT/console.log)",
    )
    parser.add_argument("robot_args", nargs="*", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    suite: Path = args.suite.resolve()
    if not (suite / TP_ROOT).is_dir() or not (suite / "resources" / "variables.py").is_file():
        raise ConformanceError(f"not an NGSI-LD test suite checkout: {args.suite}")
    groups = [g.strip("/") for g in args.groups]
    for group in groups:
        if not (suite / TP_ROOT / group).is_dir():
            raise ConformanceError(f"group not found in suite: TP/NGSI-LD/{group}")
    robot = resolve_robot(args.robot)
    max_version = parse_version(args.max_version)
    variables = suite_variables(args)

    if not args.dryrun:
        check_port_free(args.listen_host, args.notify_port, "notification receiver")
        check_port_free(args.listen_host, args.context_source_port, "context source mock")
        check_port_free(args.listen_host, args.context_server_port, "@context server")

    excludes = tags_newer_than(since_tags(suite / TP_ROOT / g for g in groups), max_version)
    if not args.with_mqtt:
        excludes.append(MQTT_TAG)
    excludes += args.exclude

    output: Path = args.output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    variable_file = output / "cetate-variables.json"
    variable_file.write_text(json.dumps(variables, indent=2) + "\n", encoding="utf-8")
    output_xml = output / "output.xml"
    if output_xml.exists():
        output_xml.unlink()

    skip_names: list[str] = []
    skipped: list[Path] = []
    for name in args.skip:
        path = (suite / TP_ROOT / name.strip("/")).resolve()
        if not path.exists():
            raise ConformanceError(f"--skip path not found in suite: TP/NGSI-LD/{name}")
        skip_names.append(name)
        skipped.append(path)
    if not args.keep_untagged_extensions:
        for name in UNTAGGED_LATER_PATHS:
            path = (suite / TP_ROOT / name).resolve()
            if path.exists():  # other suite versions may not have them
                skip_names.append(name)
                skipped.append(path)
    sources: list[Path] = []
    for group in groups:
        sources += data_sources((suite / TP_ROOT / group).resolve(), skipped)
    if not sources:
        raise ConformanceError("nothing to run: every selected group is skipped")

    cmd = build_command(
        robot, output, variable_file, sources, excludes, args.dryrun, args.robot_args
    )
    print("excluded tags: " + ", ".join(excludes), file=sys.stderr)
    print("skipped paths: " + ", ".join(skip_names), file=sys.stderr)
    print("running: " + " ".join(cmd), file=sys.stderr)
    console_log = output / "console.log"
    if not args.console:
        print(f"robot console output: {console_log}", file=sys.stderr)
    # The suite resolves ${EXECDIR}/resources/... so robot must run from its root.
    with (
        console_log.open("wb") as log,
        subprocess.Popen(
            cmd,
            cwd=suite,
            stdout=None if args.console else log,
            stderr=None if args.console else subprocess.STDOUT,
        ) as proc,
    ):
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
    if not output_xml.is_file():
        where = "its console output above" if args.console else console_log
        raise ConformanceError(f"robot exited with {code} and wrote no {output_xml} (see {where})")

    results = parse_output(output_xml, suite, groups)
    rows = table_rows(results, args.by_folder)
    title = f"NGSI-LD conformance (spec <= v{args.max_version}, hub {args.url})"
    if args.dryrun:
        title += " [dry run: no request was sent]"
    print()
    print(title)
    print(format_selected(rows) if args.dryrun else format_text(rows))
    if args.list_failed and results.failed_tests:
        print("\nFailed tests:")
        for name in results.failed_tests:
            print(f"  {name}")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(format_markdown(rows, title), encoding="utf-8")
    print(f"robot report: {output / 'report.html'}  log: {output / 'log.html'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(parse_args(argv))
    except ConformanceError as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("conformance: error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
