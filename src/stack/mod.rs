//! The lifecycle of background components: child processes and pid files, the Docker container,
//! port checks (being built).
