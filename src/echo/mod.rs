//! The embedded echo MCP server, protected by the official authplane-sdk verifier (being built).
