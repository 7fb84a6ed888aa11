"""Run in a fresh process by test_package.py: install the extension zip into a clean Blender user folder
(`BLENDER_USER_RESOURCES`), then score a range with its operator and print the new strip as JSON.

    python install_and_score.py ZIP MOVIE BUNDLE OUT_DIR
"""

import json
import sys
import time

import bpy


def main(zip_path: str, movie: str, bundle: str, out_dir: str) -> None:
    result = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"}, result
    extension = sys.modules["bl_ext.user_default.muvi"]
    import muvi_plugin

    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 64, 36
    scene.render.fps, scene.render.fps_base = 10, 1.0
    scene.frame_start, scene.frame_end = 1, 12
    scene.sequence_editor_create()
    ed = scene.sequence_editor
    top, every = ("strips", "strips_all") if hasattr(ed, "strips") else ("sequences", "sequences_all")  # 4.2
    getattr(ed, top).new_movie("movie", movie, 1, 1).select = False  # unselected: score the scene range
    scene.muvi.bundle, scene.muvi.steps, scene.muvi.seed, scene.muvi.output_dir = bundle, 2, 5, out_dir
    assert bpy.ops.muvi.score() == {"FINISHED"}
    (job,) = extension.jobs.JOBS
    deadline = time.monotonic() + 180
    while job.status not in extension.jobs.FINISHED and time.monotonic() < deadline:
        extension.jobs.drain()  # bpy.app.timers never fire in bpy-as-a-module
        time.sleep(0.05)
    strip = getattr(ed, every).get(job.strip) if job.strip else None
    print(
        "RESULT "
        + json.dumps(
            {
                "status": job.status,
                "log": job.log[-5:],
                "runtime": muvi_plugin.__file__,
                "extension": extension.__file__,
                "strip": None
                if strip is None
                else {
                    "channel": strip.channel,
                    "start": strip.frame_final_start,
                    "duration": strip.frame_final_duration,
                    "seed": json.loads(strip["muvi_report"])["seed"],
                },
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
