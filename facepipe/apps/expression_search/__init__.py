"""Facial-expression similarity search: index the faces of photos, query with a photo, a video or a camera.

descriptor.py (the expression vector; symmetry.py, its left-right symmetry), index.py (the
single-file store and exact search), indexer.py (adding photos), calculators.py + search.yaml (the query
graph), query.py (running it), render.py (the query face beside its matches). See docs/expression-search.md.
"""

from facepipe.apps.expression_search.descriptor import (
    DescriptorSpec,
    ExpressionDescriptor,
    GeometryDescriptor,
    make_descriptor,
)
from facepipe.apps.expression_search.index import ExpressionIndex, Matches
from facepipe.apps.expression_search.indexer import EmbedOptions, FaceEmbedder, index_paths
from facepipe.apps.expression_search.query import ExpressionSearch, QueryOptions

__all__ = [
    "DescriptorSpec",
    "ExpressionDescriptor",
    "GeometryDescriptor",
    "make_descriptor",
    "ExpressionIndex",
    "Matches",
    "EmbedOptions",
    "FaceEmbedder",
    "index_paths",
    "ExpressionSearch",
    "QueryOptions",
]
