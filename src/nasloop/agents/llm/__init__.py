"""Language-model agents: backends per kind (hf, openai, langchain), prompts, answer
parsing, the context-window check, and the LLM Prompt Improver and Code Generator.

Nothing heavy is imported here; backends import transformers / langchain-openai on use.
"""
