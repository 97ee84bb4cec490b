// The page's files (web/), embedded into the binary at build time by lib/cmake/embed.cmake, and
// Chart.js from Debian's libjs-chart.js: nothing is read from disk or fetched at run time.
#pragma once

#include <string_view>
#include <vector>

namespace charlm {

struct web_asset {
    const char* path;  // the URL path, "/" for the page
    const char* type;  // Content-Type
    std::string_view body;
};

const std::vector<web_asset>& web_assets();

}  // namespace charlm
