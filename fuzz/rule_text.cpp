// A rule's `when` and `message` as an operator writes them: parsed with a
// column for every mistake, then evaluated on changes of each kind and
// rendered; never a crash, a hang or undefined behaviour.
#include "rules/condition.hpp"
#include "rules/message_template.hpp"

#include <boost/json/parse.hpp>

#include <string_view>
#include <vector>

namespace {

const std::vector<boost::json::object>& events() {
  static const std::vector<boost::json::object> all = [] {
    std::vector<boost::json::object> v;
    for (const char* text :
         {R"({"type":"change","op":"created","record":{"id":"a","status":"Received","n":3,"tags":[{"id":"x","identifier":"X"}]}})",
          R"({"type":"change","op":"updated","changed":{"status":{"old":"Received","new":"Ready"}},"record":{"id":"a","status":"Ready","n":"4"}})",
          R"({"type":"change","op":"deleted","record":null,"previous":{"id":"a","status":"Ready","n":4.5}})"})
      v.push_back(boost::json::parse(text).as_object());
    return v;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The first half is a condition, the second a message.
  const std::size_t cut = size / 2;
  const auto cond = freshet::rules::condition::parse(text.substr(0, cut));
  const auto tmpl = freshet::rules::message_template::parse(text.substr(cut));
  for (const auto& ev : events()) {
    const auto view = freshet::rules::view_of_change(ev);
    if (!view) continue;
    if (const auto* c = std::get_if<freshet::rules::condition>(&cond)) (void)c->matches(*view);
    if (const auto* t = std::get_if<freshet::rules::message_template>(&tmpl)) {
      freshet::rules::firing_context ctx;
      ctx.change = &*view;
      ctx.values = {{"tenant", "t"}, {"count", "2"}};
      (void)t->render(ctx);
    }
  }
  return 0;
}
