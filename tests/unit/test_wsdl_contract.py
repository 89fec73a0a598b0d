"""The committed wsdl/*.wsdl are the public contract: generated and committed must agree, every
operation of MailUp's WSDL is there, the operations we add beyond it are exactly the ones
listed here, and so are the ones still waiting for a later issue."""
from __future__ import annotations

import pathlib

import pytest
from lxml import etree

from mailup_soap.config import Settings
from mailup_soap.soap.wsgi import SERVICES, ServiceSpec, SoapEndpoint
from tests.fakes import fake_deps

WSDL_DIR = pathlib.Path(__file__).resolve().parents[2] / "wsdl"
REFERENCE = pathlib.Path(__file__).resolve().parents[1] / "reference" / "wsdl"
W = "{http://schemas.xmlsoap.org/wsdl/}"

# Ours, not MailUp's: clients built from MailUp's WSDL never see them (README).
ADDED = {
    "WSMailUpImport": set(),
    "MailupSend": set(),
    "MailupManage": set(),
    "MailupReport": {"GetUnsubscribers"},
}

@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_generated_wsdl_is_the_committed_one(spec: ServiceSpec) -> None:
    generated = SoapEndpoint(spec, fake_deps(), Settings.public_url, Settings.max_body_bytes).wsdl

    committed = (WSDL_DIR / f"{spec.name}.wsdl").read_bytes()

    assert generated == committed, f"wsdl/{spec.name}.wsdl drifted: run `make dump-wsdl`"


def _reference_operations(spec: ServiceSpec) -> set[str]:
    for path in sorted(REFERENCE.glob("*.wsdl")):
        root = etree.parse(str(path)).getroot()
        if root.find(f"{W}service").get("name") == spec.name:
            return {op.get("name") for op in root.find(f"{W}portType").findall(f"{W}operation")}
    pytest.fail(f"no reference WSDL for {spec.name} in {REFERENCE}")


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_every_mailup_operation_exists_and_only_the_listed_ones_are_added(
        spec: ServiceSpec) -> None:
    ours = {op.name for op in spec.operations}
    theirs = _reference_operations(spec)

    assert theirs - ours == set()
    assert ours - theirs == ADDED[spec.name]
