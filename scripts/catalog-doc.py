#!/usr/bin/env python
"""Write docs/catalog.md from the built-in middlebox catalog.

    .venv/bin/python scripts/catalog-doc.py [--check] [--doc PATH]

The page is generated from plugins/module_utils/_policy/_catalog.py, the one home of the
figures: one table per provider with each entry's default idle timeout, what may be
configured, the layer, what ends the flow at expiry, the source (linked), the date the
entry was last verified and its notes; retired products are marked. Edit the catalog, then
run this script.

--check writes nothing and exits 1 with a diff when the page is not what the catalog gives;
`make lint` runs it.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from _collection_path import import_collection

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "catalog.md"
# Headings of the provider tables, in the catalog's order; an id not here is its own title.
PROVIDER_TITLES = {
    "aws": "AWS",
    "azure": "Azure",
    "gcp": "Google Cloud",
    "oci": "Oracle Cloud",
    "cloudflare": "Cloudflare",
    "linux": "Linux",
    "kubernetes": "Kubernetes",
    "haproxy": "HAProxy",
    "envoy": "Envoy",
    "nginx": "NGINX",
    "ietf": "IETF",
    "generic": "NATs in general",
}
COLUMNS = (
    "id",
    "product",
    "timer",
    "default (s)",
    "override",
    "layer",
    "at expiry",
    "source",
    "verified",
    "notes",
)
INTRO = """\
<!-- Generated from plugins/module_utils/_policy/_catalog.py by scripts/catalog-doc.py:
edit the catalog, then run the script (make lint checks that this page is current). -->

# The middlebox catalog

The idle timeouts the policy engine knows, one table per provider. Name an entry by its
`id` in `tcp_keepalive_path`, override its timeout with `{{id: ID, idle_timeout: S}}`, or
describe another box as `{{name: NAME, idle_timeout: S, layer: 4|7}}`
(see [the policy](policy.md#inputs)). Read `netstack.keepalive.keepalive_catalog` for one
entry as data.

How to read the columns:

- **default (s)**: the timer that ends an idle established connection soonest at the
  product's defaults; `none` means no source gives a figure (the verdict warns).
- **override**: `range A-B` (an override must lie in it; `A-` has no documented maximum),
  `at least A` (a standard's floor: longer is allowed), `fixed` (an override that differs is
  refused) or `any` (no source says: any positive value is accepted).
- **layer**: 4 when kernel keepalive probes reset the box's timer, 7 when only data does
  (an application heartbeat is needed).
- **at expiry**: what ends the flow, then the vendor's words. {survivable} usually keeps
  the flow working, so an expired timer is a warning there, not a failure.
- **source**: the vendor page, and how well it confirms the figure (confirmed, partial,
  unconfirmed). **verified**: the date the entry was last checked against it.
- A **retired** product keeps working in a path, and every verdict about it warns.
{retired}
"""


def catalog():
    import_collection()
    from ansible_collections.netstack.keepalive.plugins.module_utils._policy import _catalog

    return _catalog


def cell(text):
    """A Markdown table cell: pipes escaped, whitespace folded."""
    return " ".join(str(text).split()).replace("|", "\\|")


def override_text(entry, cat):
    if entry.configurable == cat.RANGE:
        low, high = entry.timeout_range
        return "range %s-%s" % (low, "" if high is None else high)
    if entry.configurable == cat.MINIMUM:
        return "at least %s" % entry.timeout_range[0]
    if entry.configurable == cat.FIXED:
        return "fixed"
    return "any"


def row(entry, cat):
    product = entry.product
    if entry.retired:
        product += " **retired %s**, use `%s`" % (entry.retired, entry.successor)
    values = (
        "`%s`" % entry.id,
        product,
        entry.timer,
        "none" if entry.idle_timeout is None else entry.idle_timeout,
        override_text(entry, cat),
        entry.layer,
        "%s: %s" % (entry.effect, entry.at_expiry),
        "[%s](%s) (%s)" % (entry.source, entry.source_url, entry.confirmed),
        entry.verified,
        entry.note or "",
    )
    return "| %s |" % " | ".join(cell(value) for value in values)


def providers(entries):
    """Provider ids in the catalog's order, each with its entries."""
    grouped = {}
    for entry in entries:
        grouped.setdefault(entry.provider, []).append(entry)
    return list(grouped.items())


def render():
    cat = catalog()
    entries = list(cat.CATALOG.values())
    survivable = ", ".join("`%s`" % effect for effect in cat.SURVIVABLE_EFFECTS)
    retired = [entry for entry in entries if entry.retired]
    retired_text = ""
    if retired:
        retired_text = "\nRetired: %s.\n" % ", ".join(
            "`%s` (%s, use `%s`)" % (entry.id, entry.retired, entry.successor) for entry in retired
        )
    effects = "\n".join(
        "- `%s`: %s" % (effect, cat.EFFECT_MEANINGS[effect]) for effect in cat.EFFECTS
    )
    lines = [
        INTRO.format(survivable=survivable, retired=retired_text).rstrip("\n"),
        "",
        "What ends the flow (the first word of **at expiry**):",
        "",
        effects,
    ]
    for provider, group in providers(entries):
        lines += ["", "## %s" % PROVIDER_TITLES.get(provider, provider), ""]
        lines.append("| %s |" % " | ".join(COLUMNS))
        lines.append("|" + "---|" * len(COLUMNS))
        lines += [row(entry, cat) for entry in group]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    parser.add_argument("--doc", type=Path, default=DOC, help="the page (docs/catalog.md)")
    args = parser.parse_args(argv)
    wanted = render()
    current = args.doc.read_text(encoding="utf-8") if args.doc.exists() else ""
    if current == wanted:
        return 0
    if args.check:
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            wanted.splitlines(keepends=True),
            fromfile="%s (checked in)" % args.doc.name,
            tofile="%s (from the catalog)" % args.doc.name,
        )
        sys.stderr.write("%s is stale: run scripts/catalog-doc.py\n%s" % (args.doc, "".join(diff)))
        return 1
    args.doc.write_text(wanted, encoding="utf-8")
    print("wrote %s" % args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
