"""slider_ms for the benchmark suite (benchmarks/suite.py): server time of one rerun of the dark-knowledge page (through
the real entry point, so the sidebar and session glue count) after a T-slider change, with the
shipped teacher. Prints one JSON object. Run from the repository root: python benchmarks/app_slider.py [N]"""
import json
import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGE = "app_pages/dark_knowledge.py"


def main(repeats: int) -> dict:
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    app.run()
    app.switch_page(PAGE).run()  # first run: loads the dataset and the cached teacher
    sliders = [s for s in app.slider if "temperature" in str(s.label).lower() or str(s.label).strip().startswith("T")]
    if not sliders or app.exception:
        return {"slider_ms": None, "slider_note": "no T slider found" +
                (f" (page raised: {app.exception[0].message})" if app.exception else "")}
    label, times = sliders[0].label, []
    for i in range(repeats):
        slider = next(s for s in app.slider if s.label == label)
        value = type(slider.value)(slider.min + (slider.max - slider.min) * (0.2 + 0.6 * i / max(repeats - 1, 1)))
        start = time.perf_counter()
        slider.set_value(value).run()
        times.append(1000 * (time.perf_counter() - start))
        if app.exception:
            return {"slider_ms": None, "slider_note": f"page raised: {app.exception[0].message}"}
    return {"slider_ms": statistics.median(times), "slider_ms_max": max(times),
            "slider_note": f"{PAGE} via streamlit_app.py, median of {repeats} reruns"}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)))
