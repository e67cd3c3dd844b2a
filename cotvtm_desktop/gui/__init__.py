"""The desktop app (PySide6). It queues, previews, steers and exports through `cotvtm … --json-progress` child
processes: nothing here imports torch or decodes media, so the window never freezes and a crash in a job cannot
take the app down."""
