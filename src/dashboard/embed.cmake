# Turns the dashboard (index.html, app.js, style.css) into C data declared in
# src/dashboard/assets.h, each with its content type and an ETag (the quoted SHA-256 of
# its bytes); run by the build whenever one of the files changes.
# usage: cmake -DDIR=src/dashboard -DOUT=dashboard_assets.c -P embed.cmake
if(NOT DEFINED DIR OR NOT DEFINED OUT)
  message(FATAL_ERROR "usage: cmake -DDIR=DASHBOARD_DIR -DOUT=FILE.c -P embed.cmake")
endif()

set(row "") # 16 bytes a line (CMake regexes have no {n})
foreach(i RANGE 15)
  string(APPEND row "0x..,")
endforeach()

set(arrays "")
set(table "")
set(n 0)
# FILE|MEDIA TYPE|PATH (every one is UTF-8 text: "; charset=utf-8" is added below)
foreach(spec "index.html|text/html|/" "index.html|text/html|/index.html"
             "app.js|text/javascript|/app.js" "style.css|text/css|/style.css")
  string(REPLACE "|" ";" parts "${spec}")
  list(GET parts 0 file)
  list(GET parts 1 type)
  list(GET parts 2 path)
  string(APPEND type "; charset=utf-8")
  string(MAKE_C_IDENTIFIER "${file}" ident)
  if(NOT DEFINED done_${ident})
    set(done_${ident} 1)
    file(READ "${DIR}/${file}" content)
    string(SHA256 sum_${ident} "${content}")
    file(READ "${DIR}/${file}" hex HEX)
    string(LENGTH "${hex}" digits)
    math(EXPR len_${ident} "${digits} / 2")
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    string(REGEX REPLACE "(${row})" "\\1\n    " bytes "${bytes}")
    string(APPEND arrays
      "/* ${file}: ${len_${ident}} bytes, sha256 ${sum_${ident}} */\n"
      "static const unsigned char fu_dash_${ident}[] = {\n    ${bytes}0x00\n};\n\n")
  endif()
  string(APPEND table
    "    {\"${path}\", \"${type}\", fu_dash_${ident}, ${len_${ident}}, \"\\\"${sum_${ident}}\\\"\"},\n")
  math(EXPR n "${n} + 1")
endforeach()

file(WRITE "${OUT}.tmp"
  "/* Generated from src/dashboard/ by src/dashboard/embed.cmake: do not edit. */\n"
  "#include <string.h>\n\n"
  "#include \"dashboard/assets.h\"\n\n"
  "${arrays}"
  "static const fu_asset_t fu_dash_assets[${n}] = {\n${table}};\n\n"
  "const fu_asset_t *fu_dashboard_asset(const char *path)\n{\n"
  "    if (!path)\n        return NULL;\n"
  "    size_t n = strcspn(path, \"?#\");\n"
  "    for (size_t i = 0; i < sizeof fu_dash_assets / sizeof fu_dash_assets[0]; i++) {\n"
  "        const fu_asset_t *a = &fu_dash_assets[i];\n"
  "        if (strlen(a->path) == n && memcmp(a->path, path, n) == 0)\n"
  "            return a;\n"
  "    }\n"
  "    return NULL;\n}\n")
file(RENAME "${OUT}.tmp" "${OUT}")
