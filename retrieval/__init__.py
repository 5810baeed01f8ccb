"""Hybrid retrieval: dense + BM25 in one Qdrant query, fused, optionally reranked by a cross-encoder."""

from retrieval.filters import access_filter, parse_filter_args, parse_filter_object
from retrieval.retriever import Retriever, hit_json, result_json

__all__ = ["Retriever", "access_filter", "hit_json", "parse_filter_args", "parse_filter_object", "result_json"]
