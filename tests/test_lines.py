from ingest.lines import split_lines


def test_split_lines_keeps_numbers_terminators_and_last_unterminated_line():
    table = split_lines(b'{"a":1}\n\n{"b":2}\r\nlast')
    rows = table.to_pylist()
    assert [r["line_number"] for r in rows] == [1, 2, 3, 4]
    assert [r["line"] for r in rows] == [b'{"a":1}\n', b"\n", b'{"b":2}\r\n', b"last"]


def test_split_lines_final_newline_is_not_an_extra_line_and_empty_file_has_none():
    assert split_lines(b"x\ny\n").num_rows == 2
    assert split_lines(b"").num_rows == 0
    assert split_lines(b"\n").to_pylist() == [{"line_number": 1, "line": b"\n"}]


def test_split_lines_keeps_invalid_utf8_bytes_intact():
    rows = split_lines(b"ok\n\xff\xfe bad\n").to_pylist()
    assert rows[1]["line"] == b"\xff\xfe bad\n"
