"""The Sequencer sidebar panel, its settings and operators (no `from __future__ import annotations`:
Blender reads the property annotations of these classes at registration).
"""

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from . import actions, compat, jobs, timeline


class MUVI_PG_settings(bpy.types.PropertyGroup):
    """Score settings, saved with the scene (`scene.muvi`)."""

    seed: IntProperty(name="Seed", min=0, default=0, description="The same seed gives the same music")
    steps: IntProperty(name="Steps", min=0, max=200, default=0, description="Sampler steps; 0: the model's")
    guidance: FloatProperty(
        name="Guidance", min=0.0, max=20.0, default=0.0, description="Guidance scale; 0: the model's"
    )
    style: StringProperty(name="Style", subtype="FILE_PATH", description="Music whose style to continue")
    bundle: StringProperty(name="Model", subtype="FILE_PATH", description="Bundle; empty: built in")
    use_source_movie: BoolProperty(
        name="Use Source Movie",
        default=True,
        description="Score a lone plain movie strip's file directly instead of rendering",
    )
    output_dir: StringProperty(
        name="Output", subtype="DIR_PATH", description="Music folder; empty: //muvi by the .blend"
    )


def _package() -> str:
    return __package__


class MUVI_OT_score(bpy.types.Operator):
    """Score the preview range, else the selected strips, else the scene range, with generated music"""

    bl_idname = "muvi.score"
    bl_label = "Score"
    bl_options = {"REGISTER"}

    def execute(self, context):
        scene = compat.sequencer_scene(context)
        frames = timeline.score_range(scene)
        try:
            job = actions.queue_score(scene, frames, actions.options_from(scene.muvi), package=_package())
        except RuntimeError as error:
            self.report({"ERROR"}, f"muvi: {error}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"muvi: queued {job.label} ({frames.source} range)")
        return {"FINISHED"}


class MUVI_OT_redo(bpy.types.Operator):
    """Score the active muvi strip's range again, with its settings"""

    bl_idname = "muvi.redo"
    bl_label = "Redo"
    bl_options = {"REGISTER"}

    new_seed: BoolProperty(name="New Seed", default=True)

    @classmethod
    def poll(cls, context):
        ed = compat.editor(compat.sequencer_scene(context))
        return ed is not None and timeline.is_muvi_strip(ed.active_strip)

    def execute(self, context):
        scene = compat.sequencer_scene(context)
        try:
            strip = scene.sequence_editor.active_strip
            job = actions.redo(scene, strip, new_seed=self.new_seed, package=_package())
        except RuntimeError as error:
            self.report({"ERROR"}, f"muvi: {error}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"muvi: queued {job.label}")
        return {"FINISHED"}


def _job(job_id: int):
    return next((job for job in jobs.JOBS if job.id == job_id), None)


class MUVI_OT_cancel(bpy.types.Operator):
    """Stop this score job; nothing is inserted and no file is left"""

    bl_idname = "muvi.cancel"
    bl_label = "Cancel"

    job_id: IntProperty()

    def execute(self, context):
        job = _job(self.job_id)
        if job is not None:
            jobs.cancel(job)
        return {"FINISHED"}


class MUVI_OT_copy_log(bpy.types.Operator):
    """Copy this job's log to the clipboard"""

    bl_idname = "muvi.copy_log"
    bl_label = "Copy Log"

    job_id: IntProperty()

    def execute(self, context):
        job = _job(self.job_id)
        if job is not None:
            context.window_manager.clipboard = "\n".join([job.label, *job.log])
        return {"FINISHED"}


class MUVI_OT_clear(bpy.types.Operator):
    """Remove finished jobs from the list"""

    bl_idname = "muvi.clear_jobs"
    bl_label = "Clear Finished"

    def execute(self, context):
        jobs.JOBS[:] = [job for job in jobs.JOBS if job.status not in jobs.FINISHED]
        return {"FINISHED"}


class MUVI_PT_panel(bpy.types.Panel):
    """Sequencer sidebar: settings, Score, Redo, and the job list."""

    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "muvi"
    bl_label = "Music"

    def draw(self, context):
        layout = self.layout
        scene = compat.sequencer_scene(context)
        settings = scene.muvi
        col = layout.column(align=True)
        for name in ("seed", "steps", "guidance", "style", "bundle", "output_dir", "use_source_movie"):
            col.prop(settings, name)
        frames = timeline.score_range(scene)
        layout.operator("muvi.score", text=f"Score {frames.source} {frames.start}-{frames.end - 1}")
        row = layout.row(align=True)
        row.operator("muvi.redo", text="Redo, New Seed").new_seed = True
        row.operator("muvi.redo", text="Redo, Same Settings").new_seed = False
        for job in reversed(jobs.JOBS):
            box = layout.box()
            box.label(text=f"{job.label}: {job.status}")
            if job.status == jobs.RUNNING:
                row = box.row()
                row.progress(factor=job.progress, type="BAR", text=job.stage)
                row.operator("muvi.cancel", text="", icon="X").job_id = job.id
            if job.error:
                box.label(text=job.error, icon="ERROR")
            if job.log:
                box.operator("muvi.copy_log", icon="COPYDOWN").job_id = job.id
        if any(job.status in jobs.FINISHED for job in jobs.JOBS):
            layout.operator("muvi.clear_jobs")


CLASSES = (
    MUVI_PG_settings,
    MUVI_OT_score,
    MUVI_OT_redo,
    MUVI_OT_cancel,
    MUVI_OT_copy_log,
    MUVI_OT_clear,
    MUVI_PT_panel,
)
