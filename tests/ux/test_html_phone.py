"""The HTML report on a 390 px phone and a 1400 px desktop, in a real headless Chromium.

A measuring script is appended to the page; it records the layout into the DOM, which
``--dump-dom`` returns: the page never scrolls sideways, charts scale to their box, and a
wide table scrolls inside its own box. Screenshots are saved for people to look at.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ci_collector.report.render_html import render_html
from tests.report.test_html_browser import busy_history, headless

pytestmark = pytest.mark.slow  # a real headless browser

MEASURE = """
<script>
(function () {
  var viewport = document.documentElement.clientWidth;
  var boxes = function (selector) {
    return Array.prototype.map.call(document.querySelectorAll(selector), function (el) {
      var r = el.getBoundingClientRect();
      var box = el.parentElement.getBoundingClientRect();
      return {left: r.left, right: r.right, width: r.width, parent: box.width,
              scroller: !!el.closest('.scroll'),
              scrollerRight: el.closest('.scroll') ?
                el.closest('.scroll').getBoundingClientRect().right : null};
    });
  };
  parent.postMessage(JSON.stringify({
    viewport: viewport,
    page: document.documentElement.scrollWidth,
    charts: boxes('svg.chart'),
    tables: boxes('table'),
    fontPx: parseFloat(getComputedStyle(document.body).fontSize)
  }), '*');
})();
</script>
"""


# Headless Chromium will not make its window narrower than about 500 px, so the page is
# shown in an iframe of the phone's width: media queries and layout follow the iframe.
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{src}" style="width:{width}px;height:2000px;border:0"></iframe>
<script>
window.addEventListener('message', function (event) {{
  document.body.setAttribute('data-layout', event.data);
}});
</script></body></html>"""


def layout(tmp_path: Path, width: int) -> dict[str, object]:
    report = busy_history().report(tmp_path / "state.sqlite", days=14, end_s=14 * 86_400)
    html = render_html(report)
    page = tmp_path / f"report-{width}.html"
    page.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    frame = tmp_path / f"frame-{width}.html"
    frame.write_text(FRAME.format(src=page.name, width=width), encoding="utf-8")
    result = headless(
        frame,
        tmp_path / "profile",
        f"--window-size={max(width, 800)},2000",
        "--virtual-time-budget=5000",
        "--dump-dom",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'data-layout="([^"]*)"', result.stdout)
    assert found, "the measuring script did not run"
    raw = found.group(1).replace("&quot;", '"').replace("&amp;", "&")
    return dict(json.loads(raw))


@pytest.mark.parametrize("width", [390, 768, 1400])
def test_the_page_never_scrolls_sideways_and_tables_scroll_in_their_box(
    width: int, tmp_path: Path
) -> None:
    seen = layout(tmp_path, width)
    viewport = seen["viewport"]
    assert isinstance(viewport, int) and width - 20 <= viewport <= width, seen
    assert seen["page"] <= viewport, f"the page is {seen['page']} px wide in {viewport}"
    charts = seen["charts"]
    assert isinstance(charts, list) and len(charts) == 4
    for chart in charts:
        assert chart["right"] <= viewport + 0.5, chart
        assert chart["width"] >= 0.9 * chart["parent"] - 30, chart  # scales to its box
    tables = seen["tables"]
    assert isinstance(tables, list) and len(tables) >= 5
    for table in tables:
        assert table["scroller"], table  # every table can scroll inside its box
        assert table["scrollerRight"] <= viewport + 0.5, table


@pytest.mark.parametrize("width", [390, 1400])
def test_screenshots_for_people_to_look_at(width: int, tmp_path: Path) -> None:
    """Set CI_COLLECTOR_SCREENSHOTS=DIR to keep them (the phone one shows the page framed)."""
    report = busy_history().report(tmp_path / "state.sqlite", days=14, end_s=14 * 86_400)
    keep = os.environ.get("CI_COLLECTOR_SCREENSHOTS")
    folder = Path(keep) if keep else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    frame = folder / f"frame-{width}.html"
    frame.write_text(FRAME.format(src=page.name, width=width).replace("2000px", "2400px"))
    shot = folder / f"report-{width}.png"
    result = headless(
        frame, tmp_path / "profile", f"--window-size={max(width, 500)},2400", f"--screenshot={shot}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 10_000
