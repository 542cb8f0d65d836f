"""The article loader: input/output processors per field, sources added best-first."""

from __future__ import annotations

from typing import Any

from itemloaders.processors import Compose, Identity, Join, MapCompose, TakeFirst
from scrapy.loader import ItemLoader

from rfi_crawler.items import ArticleItem
from rfi_crawler.processors import clean_text, strip_title_suffix, to_utc_iso, unique_in_order

BODY_SEPARATOR = "\n\n"


class ArticleLoader(ItemLoader):
    """Scalar fields take the first non-empty value, so callers add sources best-first."""

    default_item_class = ArticleItem
    default_input_processor = MapCompose(clean_text)
    default_output_processor = TakeFirst()

    title_in = MapCompose(clean_text, strip_title_suffix)
    published_at_in = MapCompose(to_utc_iso)
    modified_at_in = MapCompose(to_utc_iso)

    body_out = Join(BODY_SEPARATOR)
    subheadings_out = Compose(unique_in_order)
    authors_out = Compose(unique_in_order)
    tags_out = Compose(unique_in_order)
    links_out = Compose(unique_in_order)

    # Structured values are built by the extractors; they pass through untouched.
    image_in = Identity()
    media_in = Identity()
    media_out = Compose(unique_in_order)
    related_in = Identity()
    related_out = Compose(unique_in_order)
    translations_in = Identity()
    crawl_in = Identity()
    char_count_in = Identity()

    # Every processor is declared on this class (processor instances, never bare functions,
    # so none becomes a bound method), and ArticleItem's fields carry no processor metadata:
    # looking it up for each value, as the base class does, shows in the benchmark.
    def get_input_processor(self, field_name: str) -> Any:
        return getattr(self, f"{field_name}_in", None) or self.default_input_processor

    def get_output_processor(self, field_name: str) -> Any:
        return getattr(self, f"{field_name}_out", None) or self.default_output_processor
