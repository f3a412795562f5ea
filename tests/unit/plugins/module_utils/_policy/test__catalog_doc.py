"""docs/catalog.md is what scripts/catalog-doc.py makes of the catalog, and --check says so."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._catalog import (
    CATALOG,
)

REPO = Path(__file__).resolve().parents[5]
SCRIPT = REPO / "scripts" / "catalog-doc.py"


@pytest.fixture(scope="module")
def catalog_doc():
    spec = importlib.util.spec_from_file_location("catalog_doc", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_page_is_current(catalog_doc):
    assert (REPO / "docs" / "catalog.md").read_text(encoding="utf-8") == catalog_doc.render()
    assert catalog_doc.main(["--check"]) == 0


def test_every_entry_has_one_row_with_its_link_and_date(catalog_doc):
    page = catalog_doc.render()
    for entry in CATALOG.values():
        (line,) = [line for line in page.splitlines() if line.startswith("| `%s` |" % entry.id)]
        assert "](%s)" % entry.source_url in line and "| %s |" % entry.verified in line
        assert ("**retired %s**" % entry.retired in line) == bool(entry.retired)


def test_every_provider_has_a_title(catalog_doc):
    assert {entry.provider for entry in CATALOG.values()} <= set(catalog_doc.PROVIDER_TITLES)


def test_check_fails_with_a_diff_on_a_stale_page_and_writes_nothing(catalog_doc, tmp_path, capsys):
    stale = tmp_path / "catalog.md"
    text = catalog_doc.render().replace("| 350 |", "| 351 |", 1)
    stale.write_text(text, encoding="utf-8")
    assert catalog_doc.main(["--check", "--doc", str(stale)]) == 1
    err = capsys.readouterr().err
    assert "catalog.md is stale: run scripts/catalog-doc.py" in err
    assert "-| `aws_nlb` |" in err and "+| `aws_nlb` |" in err
    assert stale.read_text(encoding="utf-8") == text
    assert catalog_doc.main(["--doc", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == catalog_doc.render()


def test_the_catalog_filter_documents_every_id_and_field():
    """ansible-doc of keepalive_catalog lists every id and every key an entry returns."""
    from ansible_collections.netstack.keepalive.plugins.filter import keepalive_catalog

    doc = yaml.safe_load(keepalive_catalog.DOCUMENTATION)
    (ids_line,) = [line for line in doc["description"] if line.startswith("Ids: ")]
    listed = [name.split(" ")[0] for name in ids_line[len("Ids: ") :].rstrip(".").split(", ")]
    assert sorted(listed) == sorted(CATALOG)
    retired = {name.split(" ")[0] for name in ids_line.split(", ") if "(retired)" in name}
    assert retired == {i for i, entry in CATALOG.items() if entry.retired}
    returned = yaml.safe_load(keepalive_catalog.RETURN)["_value"]["contains"]
    assert set(returned) == set(CATALOG["aws_nlb"].to_dict())
