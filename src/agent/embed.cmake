# Turns the node agent script into C data (declared in src/agent/agent.h), so fleetup
# carries the exact bytes it uploads; run by the build whenever the script changes.
# usage: cmake -DIN=fleetup-agent.sh -DOUT=agent_script.c -P embed.cmake
if(NOT DEFINED IN OR NOT DEFINED OUT)
  message(FATAL_ERROR "usage: cmake -DIN=SCRIPT -DOUT=FILE.c -P embed.cmake")
endif()
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR len "${digits} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
set(row "") # 16 bytes a line (CMake regexes have no {n})
foreach(i RANGE 15)
  string(APPEND row "0x..,")
endforeach()
string(REGEX REPLACE "(${row})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "/* Generated from src/agent/fleetup-agent.sh by src/agent/embed.cmake: do not edit. */\n"
  "#include \"agent/agent.h\"\n\n"
  "const unsigned char fu_agent_script[] = {\n    ${bytes}0x00\n};\n"
  "const size_t fu_agent_script_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
