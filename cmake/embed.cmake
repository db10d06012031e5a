# Writes the bytes of IN as a C array NAME (and NAME_len) into OUT, for
# objects the library carries inside itself (the XDP program).
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT}
  "/* Generated from ${IN} by cmake/embed.cmake; do not edit. */\n"
  "__attribute__((visibility(\"hidden\"))) const unsigned char ${NAME}[] = {\n"
  "${bytes}\n};\n"
  "__attribute__((visibility(\"hidden\"))) const unsigned long ${NAME}_len = sizeof(${NAME});\n")
