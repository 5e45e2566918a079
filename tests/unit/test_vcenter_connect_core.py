"""Pure parts of the vCenter connect core: version document, redaction, argument errors."""
from __future__ import annotations

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.connect import (
    ConnectSettings, Redactor, VcenterConnectError, _pick_version, _versions_from_xml, connect_with_retry,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.errors import NotVimServer

VERSIONS = b"""<?xml version="1.0" encoding="UTF-8" ?>
<namespaces version="1.0">
 <namespace>
  <name>urn:vim25</name>
  <version>6.5</version>
  <priorVersions><version>6.0</version><version>5.5</version></priorVersions>
 </namespace>
 <namespace><name>urn:vim2</name><version>2.0</version></namespace>
</namespaces>"""


def test_versions_document_lists_current_and_prior_vim25_versions():
    assert _versions_from_xml(VERSIONS, "x") == {"6.5", "6.0", "5.5"}


def test_newest_common_version_is_chosen():
    name, api = _pick_version({"6.5", "6.0", "5.5"})
    assert api == "6.5" and name.startswith("vim.version.")


@pytest.mark.parametrize("body", [b"<html>hi</html>", b"not xml at all", b"<namespaces version='1.0'/>"])
def test_anything_else_is_not_a_vim_server(body):
    with pytest.raises(NotVimServer):
        _versions_from_xml(body, "https://h/sdk/vimServiceVersions.xml")


def test_no_common_version_is_not_a_vim_server():
    with pytest.raises(NotVimServer, match="no API version in common"):
        _pick_version({"1.0"})


def test_redactor_replaces_every_secret_longest_first():
    r = Redactor("abc", "abcdef", None, "")
    assert r("x abcdef y abc") == "x ******** y ********"


def settings(**kw) -> ConnectSettings:
    base = dict(hostname="vc.invalid", username="u", password="S3cret-pw-1", max_attempts=1)
    base.update(kw)
    return ConnectSettings(**base)


def test_bad_backoff_settings_fail_before_any_attempt():
    with pytest.raises(VcenterConnectError) as err:
        connect_with_retry(settings(backoff_base=5, backoff_cap=1))
    assert err.value.details["reason"] == "bad_argument" and "cap" in err.value.message


def test_unreadable_ca_path_is_reported_as_such():
    with pytest.raises(VcenterConnectError) as err:
        connect_with_retry(settings(ca_path="/nonexistent/S3cret-pw-1/ca.pem"))
    assert err.value.details["reason"] == "bad_argument"
    assert "ca_path" in err.value.message and "S3cret-pw-1" not in err.value.message
