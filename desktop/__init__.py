"""The Qt application and the `sufler` command line. Only this package imports Qt."""
