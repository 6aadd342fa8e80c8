"""The planted bugs of ``scripts.mutate`` still apply: each one's text occurs exactly once in
its file, so ``make mutation`` plants every bug instead of reporting it stale, and the tests
named to catch it exist."""

import re

import pytest

from scripts.mutate import MUTATIONS, REPO_ROOT, Stale, plant


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_mutation_applies_and_names_existing_tests(mutation, tmp_path):
    source = (REPO_ROOT / mutation.path).read_text()
    assert source.count(mutation.old) == 1, f"{mutation.name}: text gone from {mutation.path}"
    copy = tmp_path / mutation.path
    copy.parent.mkdir(parents=True)
    copy.write_text(source)
    plant(tmp_path, mutation)
    assert copy.read_text() != source
    for node in mutation.tests:
        path, _, name = node.partition("::")
        test_file = REPO_ROOT / path
        assert test_file.exists(), node
        if name:
            function = re.sub(r"\[.*\]$", "", name)
            assert re.search(rf"^def {re.escape(function)}\(", test_file.read_text(), re.M), node


def test_plant_refuses_text_that_is_not_there_once(tmp_path):
    mutation = MUTATIONS[0]
    (tmp_path / mutation.path).parent.mkdir(parents=True)
    (tmp_path / mutation.path).write_text("nothing to mutate here\n")
    with pytest.raises(Stale, match="expected text found 0 times"):
        plant(tmp_path, mutation)
