"""The LangGraph state machine of the search loop."""
