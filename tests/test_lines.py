

def test_split_trimmed_lines_strips_terminators_and_flags_possible_blanks():
    from ingest.lines import split_trimmed_lines

    rows = split_trimmed_lines(b'{"a":1}\r\r\n\n  \r\n \r \n{x\r\nlast\r').to_pylist()
    assert [r["line_number"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["line"] for r in rows] == ['{"a":1}', "", "  ", " \r ", "{x", "last"]
    assert [r["maybe_blank"] for r in rows] == [False, True, True, True, False, True]
    assert split_trimmed_lines(b"").num_rows == 0
    assert split_trimmed_lines(b"x\ny\n").num_rows == 2


def test_split_trimmed_lines_keeps_invalid_utf8_as_bytes_with_raw_line():
    from ingest.lines import split_trimmed_lines

    table = split_trimmed_lines(b'{"a":1}\r\r\n\xff\xfe bad\r\nlast\xff\r')
    assert table.schema.field("line").type == "large_binary"
    rows = table.to_pylist()
    assert [r["line"] for r in rows] == [b'{"a":1}', b"\xff\xfe bad", b"last\xff"]
    # raw_line loses only the terminator (\n or \r\n), as the rejects table shows it
    assert [r["raw_line"] for r in rows] == [b'{"a":1}\r', b"\xff\xfe bad", b"last\xff\r"]
