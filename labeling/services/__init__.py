"""labeling's writes: corpora and pairs, imports, labeling jobs, labels, promotions, exports."""
