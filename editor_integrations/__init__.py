"""Host glue for editors (Blender, Resolve, OTIO plugins) over the muvi_plugin API."""
